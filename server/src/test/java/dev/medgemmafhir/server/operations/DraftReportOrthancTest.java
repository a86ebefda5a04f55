package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.medgemmafhir.operations.AiTransparency;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code $draft-report} against a real PACS: Orthanc with its DICOMweb plugin, started by this test
 * on a free port with its storage in a temporary folder, holding DICOM files that dcmtk's
 * {@code img2dcm} made from pictures drawn here. The study lists the instances of its first series
 * and not those of its second, so both WADO-RS paths (listed, and found with QIDO-RS) are used.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DraftReportOrthancTest extends AiOperationsServer {

  static final String STUDY_UID = "1.2.826.0.1.3680043.10.543.7";
  static final String LISTED_SERIES = STUDY_UID + ".1";
  static final String UNLISTED_SERIES = STUDY_UID + ".2";
  static final List<String> ORTHANC = List.of("/usr/sbin/Orthanc", "/usr/bin/Orthanc");
  static final List<String> DICOMWEB_PLUGIN = List.of("/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
      "/usr/lib/orthanc/libOrthancDicomWeb.so");
  static final List<String> IMG2DCM = List.of("/usr/bin/img2dcm", "/usr/local/bin/img2dcm");

  Path work;
  Process orthanc;
  String orthancUrl;
  String study;

  @BeforeAll
  void startOrthancWithAStudy() throws Exception {
    String orthancBinary = installed(ORTHANC);
    String plugin = installed(DICOMWEB_PLUGIN);
    String img2dcm = installed(IMG2DCM);
    if (orthancBinary == null || plugin == null || img2dcm == null) {
      String missing = "Orthanc (" + ORTHANC + "), its DICOMweb plugin (" + DICOMWEB_PLUGIN + ") and dcmtk's img2dcm ("
          + IMG2DCM + ") are needed; .ci/run installs them (apt-get install orthanc orthanc-dicomweb dcmtk)";
      Assumptions.assumeFalse("true".equalsIgnoreCase(System.getenv("MEDGEMMA_SKIP_ORTHANC")),
          "MEDGEMMA_SKIP_ORTHANC=true: " + missing);
      fail(missing + ", or set MEDGEMMA_SKIP_ORTHANC=true to skip this test");
    }
    work = Files.createTempDirectory("medgemma-orthanc");
    int port = ORTHANC_PORT;
    orthancUrl = "http://127.0.0.1:" + port;
    Path config = work.resolve("orthanc.json");
    Files.writeString(config, """
        {
          "Name": "medgemma-fhir-test",
          "StorageDirectory": "%s",
          "IndexDirectory": "%s",
          "HttpPort": %d,
          "DicomServerEnabled": false,
          "RemoteAccessAllowed": false,
          "AuthenticationEnabled": false,
          "Plugins": ["%s"],
          "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
        }
        """.formatted(work.resolve("storage"), work.resolve("storage"), port, plugin));
    orthanc = new ProcessBuilder(orthancBinary, config.toString())
        .redirectErrorStream(true).redirectOutput(work.resolve("orthanc.log").toFile()).start();
    waitUntilUp();

    // Series 1: five radiographs the ImagingStudy lists; series 2: three it does not.
    for (int i = 1; i <= 5; i++) {
      upload(img2dcm, LISTED_SERIES, 1, i, picture("jpeg", i, 48, 40));
    }
    for (int i = 1; i <= 3; i++) {
      upload(img2dcm, UNLISTED_SERIES, 2, i, picture("jpeg", 10 + i, 40, 48));
    }
    String endpoint = StudyFixtures.endpoint(client, orthancUrl + "/dicom-web/");
    study = StudyFixtures.create(client, s -> {
      s.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + STUDY_UID);
      s.addEndpoint(new Reference(endpoint));
      StudyFixtures.series(s, LISTED_SERIES, 1, "CR", sop(LISTED_SERIES, 1), sop(LISTED_SERIES, 2),
          sop(LISTED_SERIES, 3), sop(LISTED_SERIES, 4), sop(LISTED_SERIES, 5));
      StudyFixtures.series(s, UNLISTED_SERIES, 2, "CR");
      // A structured report series is not a picture: it is never fetched.
      StudyFixtures.series(s, STUDY_UID + ".3", 3, "SR", STUDY_UID + ".3.1");
    }).study();
  }

  @AfterAll
  void stopOrthanc() throws IOException {
    stop();
    if (work != null) {
      try (Stream<Path> files = Files.walk(work)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  static String sop(String series, int number) {
    return series + "." + number;
  }

  static String installed(List<String> candidates) {
    return candidates.stream().filter(p -> Files.isExecutable(Path.of(p)) || Files.isRegularFile(Path.of(p)))
        .findFirst().orElse(null);
  }

  void waitUntilUp() throws Exception {
    for (int i = 0; i < 300; i++) {
      if (!orthanc.isAlive()) {
        fail("Orthanc exited with " + orthanc.exitValue() + ": " + Files.readString(work.resolve("orthanc.log")));
      }
      try {
        HttpResponse<String> system = http.send(HttpRequest.newBuilder(URI.create(orthancUrl + "/system"))
            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
        if (system.statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // still starting
      }
      Thread.sleep(100);
    }
    fail("Orthanc did not answer on " + orthancUrl + ": " + Files.readString(work.resolve("orthanc.log")));
  }

  void upload(String img2dcm, String series, int seriesNumber, int number, byte[] jpeg) throws Exception {
    Path picture = work.resolve("picture-" + seriesNumber + "-" + number + ".jpg");
    Path dicom = work.resolve("instance-" + seriesNumber + "-" + number + ".dcm");
    Files.write(picture, jpeg);
    Process convert = new ProcessBuilder(img2dcm, "-q",
        "-k", "StudyInstanceUID=" + STUDY_UID, "-k", "SeriesInstanceUID=" + series,
        "-k", "SOPInstanceUID=" + sop(series, number), "-k", "SeriesNumber=" + seriesNumber,
        "-k", "InstanceNumber=" + number, "-k", "Modality=CR", "-k", "PatientID=MEDGEMMA-TEST",
        picture.toString(), dicom.toString()).redirectErrorStream(true).start();
    String output = new String(convert.getInputStream().readAllBytes());
    assertThat(convert.waitFor()).as("img2dcm: " + output).isZero();
    HttpResponse<String> stored = http.send(HttpRequest.newBuilder(URI.create(orthancUrl + "/instances"))
        .POST(HttpRequest.BodyPublishers.ofFile(dicom)).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(stored.statusCode()).as(stored.body()).isEqualTo(200);
  }

  void stop() {
    if (orthanc != null && orthanc.isAlive()) {
      orthanc.destroy();
      try {
        if (!orthanc.waitFor(20, TimeUnit.SECONDS)) {
          orthanc.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  @Test
  @Order(1)
  void draftsAReportFromTheMiddleImagesOfEachSeriesFetchedFromThePacs() throws Exception {
    HttpResponse<String> response = post("/" + study + "/$draft-report", new Parameters());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport report = parse(response, DiagnosticReport.class);
    assertThat(report.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
    assertThat(report.getImagingStudyFirstRep().getReference()).isEqualTo(study);
    int included = ((IntegerType) report.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION)
        .getExtensionByUrl("imagesIncluded").getValue()).getValue();
    // Both series contribute before either gives a second image.
    assertThat(included).isBetween(2, 4);

    Provenance provenance = (Provenance) client.search().forResource(Provenance.class)
        .where(Provenance.TARGET.hasId("DiagnosticReport/" + report.getIdElement().getIdPart()))
        .returnBundle(Bundle.class).execute().getEntryFirstRep().getResource();
    List<String> instances = new ArrayList<>();
    for (Provenance.ProvenanceEntityComponent entity : provenance.getEntity()) {
      if (entity.getWhat().hasIdentifier()) {
        assertThat(entity.getWhat().getIdentifier().getSystem()).isEqualTo("urn:dicom:uid");
        assertThat(entity.getRole()).isEqualTo(Provenance.ProvenanceEntityRole.SOURCE);
        instances.add(entity.getWhat().getIdentifier().getValue());
      }
    }
    // Middle first (instance 3 of 5, instance 2 of 3), series taking turns, then the next spread images.
    List<String> wanted = List.of(sop(LISTED_SERIES, 3), sop(UNLISTED_SERIES, 2), sop(LISTED_SERIES, 2),
        sop(UNLISTED_SERIES, 1)).subList(0, included).stream().map(uid -> "urn:oid:" + uid).toList();
    assertThat(instances).containsExactlyInAnyOrderElementsOf(wanted);
    assertThat(provenance.getEntity()).extracting(e -> e.getWhat().getReference())
        .anyMatch(r -> r != null && r.startsWith(study + "/_history/"));
  }

  @Test
  @Order(2)
  void aStoppedPacsIsA502NamingTheUrlAndWritesNothing() throws Exception {
    stop();
    Map<String, Integer> before = written();
    Parameters parameters = new Parameters();
    parameters.addParameter("maxTokens", new IntegerType(5));
    HttpResponse<String> response = post("/" + study + "/$draft-report", parameters);
    assertOutcome(response, 502, "The PACS failed: GET " + orthancUrl + "/dicom-web/studies/" + STUDY_UID);
    assertThat(written()).isEqualTo(before);
  }
}
