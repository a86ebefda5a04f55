package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import com.sun.net.httpserver.HttpServer;
import dev.medgemmafhir.engine.EngineException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * A failed {@code $draft-report} writes nothing: not the report, not its Provenance, not even the
 * model's Device, whether the engine, the PACS or the database write fails.
 */
class DraftReportFailureTest extends AiOperationsServer {

  static final String STUDY_UID = "1.2.826.0.1.3680043.10.999.1";
  static final String SERIES_UID = STUDY_UID + ".1";

  @Autowired IInterceptorService interceptors;
  HttpServer fakePacs;
  final AtomicInteger pacsRequests = new AtomicInteger();

  /** A PACS that answers every rendered image with 503 under /broken and with an HTML page under /html. */
  @BeforeAll
  void startFakePacs() throws IOException {
    fakePacs = HttpServer.create(new InetSocketAddress("127.0.0.1", FAKE_PACS_PORT), 0);
    fakePacs.createContext("/broken/", exchange -> {
      pacsRequests.incrementAndGet();
      exchange.sendResponseHeaders(503, -1);
      exchange.close();
    });
    fakePacs.createContext("/html/", exchange -> {
      pacsRequests.incrementAndGet();
      byte[] body = "<html><body>Login required</body></html>".getBytes(StandardCharsets.UTF_8);
      exchange.getResponseHeaders().add("Content-Type", "text/html");
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    byte[] png = picture("png", 8, 16, 16);
    fakePacs.createContext("/partial/", exchange -> {
      pacsRequests.incrementAndGet();
      if (exchange.getRequestURI().getPath().contains("/instances/" + SERIES_UID + ".1/")) {
        exchange.sendResponseHeaders(404, -1);
      } else {
        exchange.getResponseHeaders().add("Content-Type", "image/png");
        exchange.sendResponseHeaders(200, png.length);
        exchange.getResponseBody().write(png);
      }
      exchange.close();
    });
    fakePacs.createContext("/missing/", exchange -> {
      pacsRequests.incrementAndGet();
      exchange.sendResponseHeaders(404, -1);
      exchange.close();
    });
    fakePacs.start();
  }

  @AfterAll
  void stopFakePacs() {
    fakePacs.stop(0);
  }

  String studyAt(String address, boolean listInstances) {
    String endpoint = StudyFixtures.endpoint(client, address);
    return StudyFixtures.create(client, study -> {
      study.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + STUDY_UID);
      study.addEndpoint(new Reference(endpoint));
      if (listInstances) {
        StudyFixtures.series(study, SERIES_UID, 1, "CR", SERIES_UID + ".1", SERIES_UID + ".2");
      } else {
        StudyFixtures.series(study, SERIES_UID, 1, "CR");
      }
    }).study();
  }

  static Parameters withModel(String model, byte[]... images) {
    Parameters parameters = DraftReportOperationTest.withImages(images);
    parameters.addParameter("model", new StringType(model));
    return parameters;
  }

  @Test
  void anEngineFailureWritesNothing() throws Exception {
    String model = register("failing-engine", ScriptedEngine.images("failing-engine", 4096, 16, request -> {
      throw new EngineException("ONNX Runtime failed in the decoder");
    }));
    String study = StudyFixtures.create(client, s -> { }).study();
    Map<String, Integer> before = written();
    HttpResponse<String> response = post("/" + study + "/$draft-report", withModel(model, picture("png", 1, 16, 16)));
    assertOutcome(response, 500, "Generation failed");
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("failing-engine")).isZero();
  }

  @Test
  void anUnreachablePacsIsA502NamingTheUrlAndWritesNothing() throws Exception {
    String address = "http://127.0.0.1:" + CLOSED_PORT + "/dicom-web";
    String study = studyAt(address + "/", true);
    Map<String, Integer> before = written();
    HttpResponse<String> response = post("/" + study + "/$draft-report", new Parameters());
    assertOutcome(response, 502, "The PACS failed: GET " + address + "/studies/" + STUDY_UID + "/series/" + SERIES_UID
        + "/instances/", "/rendered", "connection failed");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void anEndpointAtAnAddressNobodyAllowedIsRefusedWithoutCallingIt() throws Exception {
    // The same fake PACS under another host name, and an address inside the network: neither is listed.
    AtomicInteger calls = new AtomicInteger();
    HttpServer internal = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    internal.createContext("/", exchange -> {
      calls.incrementAndGet();
      exchange.sendResponseHeaders(500, -1);
      exchange.close();
    });
    internal.start();
    try {
      Map<String, Integer> before = written();
      for (String address : List.of("http://127.0.0.1:" + internal.getAddress().getPort() + "/dicom-web",
          "http://localhost:" + FAKE_PACS_PORT + "/broken/dicom-web", "ftp://127.0.0.1:" + FAKE_PACS_PORT)) {
        assertOutcome(post("/" + studyAt(address, true) + "/$draft-report", new Parameters()), 422,
            "medgemma.operations.draft-report.dicomweb.allowed-addresses");
      }
      assertThat(calls.get()).isZero();
      assertThat(written()).isEqualTo(before);
    } finally {
      internal.stop(0);
    }
  }

  @Test
  void aPacsErrorStatusIsA502AndWritesNothing() throws Exception {
    String address = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/broken/dicom-web";
    Map<String, Integer> before = written();
    int requests = pacsRequests.get();
    assertOutcome(post("/" + studyAt(address, true) + "/$draft-report", new Parameters()), 502, "HTTP 503", address);
    assertThat(pacsRequests.get()).isGreaterThan(requests);
    // Listing the instances the study does not name fails the same way.
    assertOutcome(post("/" + studyAt(address, false) + "/$draft-report", new Parameters()), 502, "HTTP 503",
        address + "/studies/" + STUDY_UID + "/series/" + SERIES_UID + "/instances");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aPacsThatDoesNotKnowTheSeriesIsA502NotAStudyWithoutImages() throws Exception {
    String address = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/missing/dicom-web";
    Map<String, Integer> before = written();
    assertOutcome(post("/" + studyAt(address, false) + "/$draft-report", new Parameters()), 502, "HTTP 404",
        address + "/studies/" + STUDY_UID + "/series/" + SERIES_UID + "/instances");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void oneInstanceMissingOnThePacsIsLeftOutAndCountedAllMissingIsA502() throws Exception {
    String model = register("partial", ScriptedEngine.images("partial", 4096, 16, request -> "## Impression\nNormal."));
    Parameters parameters = new Parameters();
    parameters.addParameter("model", new StringType(model));
    String partial = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/partial/dicom-web";
    HttpResponse<String> response = post("/" + studyAt(partial, true) + "/$draft-report", parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    org.hl7.fhir.r4.model.DiagnosticReport report = parse(response, org.hl7.fhir.r4.model.DiagnosticReport.class);
    org.hl7.fhir.r4.model.Extension summary = report.getExtensionByUrl(
        dev.medgemmafhir.vocabulary.AiVocabulary.CONTEXT_EXTENSION);
    assertThat(((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("imagesIncluded").getValue()).getValue())
        .isEqualTo(1);
    assertThat(((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("imagesMissing").getValue()).getValue())
        .isEqualTo(1);
    org.hl7.fhir.r4.model.Provenance provenance = (org.hl7.fhir.r4.model.Provenance) client.search()
        .forResource(org.hl7.fhir.r4.model.Provenance.class)
        .where(org.hl7.fhir.r4.model.Provenance.TARGET.hasId("DiagnosticReport/" + report.getIdElement().getIdPart()))
        .returnBundle(org.hl7.fhir.r4.model.Bundle.class).execute().getEntryFirstRep().getResource();
    assertThat(provenance.getEntity()).extracting(e -> e.getWhat().getIdentifier().getValue())
        .contains("urn:oid:" + SERIES_UID + ".2").doesNotContain("urn:oid:" + SERIES_UID + ".1");

    String missing = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/missing/dicom-web";
    Map<String, Integer> before = written();
    assertOutcome(post("/" + studyAt(missing, true) + "/$draft-report", parameters), 502, "none of the 2 planned images",
        "HTTP 404");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void imagesCutByMaxImagesAreCountedAsOmitted() throws Exception {
    String model = register("cut", ScriptedEngine.images("cut", 100_000, 16, request -> "## Impression\nNormal."));
    String address = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/partial/dicom-web";
    String endpoint = StudyFixtures.endpoint(client, address);
    String study = StudyFixtures.create(client, s -> {
      s.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + STUDY_UID);
      s.addEndpoint(new Reference(endpoint));
      StudyFixtures.series(s, SERIES_UID, 1, "CT", SERIES_UID + ".2", SERIES_UID + ".3", SERIES_UID + ".4",
          SERIES_UID + ".5", SERIES_UID + ".6");
    }).study();
    Parameters parameters = new Parameters();
    parameters.addParameter("model", new StringType(model));
    parameters.addParameter("maxImages", new org.hl7.fhir.r4.model.IntegerType(2));
    HttpResponse<String> response = post("/" + study + "/$draft-report", parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    org.hl7.fhir.r4.model.Extension summary = parse(response, org.hl7.fhir.r4.model.DiagnosticReport.class)
        .getExtensionByUrl(dev.medgemmafhir.vocabulary.AiVocabulary.CONTEXT_EXTENSION);
    // Three per series (max-images-per-series), two allowed: one cut.
    assertThat(((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("imagesIncluded").getValue()).getValue())
        .isEqualTo(2);
    assertThat(((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("imagesOmitted").getValue()).getValue())
        .isEqualTo(1);
  }

  @Test
  void aPacsAnswerThatIsNoImageIsA502AndWritesNothing() throws Exception {
    String address = "http://127.0.0.1:" + fakePacs.getAddress().getPort() + "/html/dicom-web";
    Map<String, Integer> before = written();
    HttpResponse<String> response = post("/" + studyAt(address, true) + "/$draft-report", new Parameters());
    assertOutcome(response, 502, "not a PNG or JPEG image", "text/html");
    assertThat(response.body()).doesNotContain("Login required");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aFailedDatabaseWriteWritesNothing() throws Exception {
    String model = register("db-failure", ScriptedEngine.images("db-failure", 4096, 16,
        request -> "## Impression\nNormal."));
    String study = StudyFixtures.create(client, s -> { }).study();
    Map<String, Integer> before = written();
    FailingProvenanceWrite failure = new FailingProvenanceWrite();
    interceptors.registerInterceptor(failure);
    try {
      HttpResponse<String> response = post("/" + study + "/$draft-report", withModel(model, picture("png", 2, 16, 16)));
      assertThat(response.statusCode()).as(response.body()).isGreaterThanOrEqualTo(500);
      assertThat(failure.calls.get()).as("the Provenance write was attempted").isPositive();
    } finally {
      interceptors.unregisterInterceptor(failure);
    }
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("db-failure")).isZero();

    // The same request succeeds once the database does: the failure left nothing in the way.
    HttpResponse<String> retry = post("/" + study + "/$draft-report", withModel(model, picture("png", 2, 16, 16)));
    assertThat(retry.statusCode()).as(retry.body()).isEqualTo(200);
    assertThat(devicesFor("db-failure")).isOne();
    assertThat(written()).containsEntry("DiagnosticReport", before.get("DiagnosticReport") + 1)
        .containsEntry("Provenance", before.get("Provenance") + 1).containsEntry("Device", before.get("Device") + 1);
  }
}
