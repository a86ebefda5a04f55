package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code Prefer: respond-async} on {@code $draft-report} answers 202 before any image is fetched,
 * and before the PACS is asked to list the instances a study does not list: a slow PACS (here one
 * that holds every answer until the test lets it go) delays the job, not the kick-off. A PACS that
 * fails the listing fails the job (502 on the status endpoint) and nothing is written.
 */
class DraftReportAsyncTest extends AiOperationsServer {

  static final String STUDY_UID = "1.2.826.0.1.3680043.10.999.7";
  static final String SERIES_UID = STUDY_UID + ".1";

  HttpServer slowPacs;
  final CountDownLatch release = new CountDownLatch(1);
  final AtomicInteger imagesAsked = new AtomicInteger();
  final AtomicInteger imagesSent = new AtomicInteger();
  final CountDownLatch releaseListing = new CountDownLatch(1);
  final AtomicInteger listingsAsked = new AtomicInteger();
  final AtomicInteger listingsAnswered = new AtomicInteger();
  final AtomicInteger failingListingsAsked = new AtomicInteger();

  @BeforeAll
  void startSlowPacs() throws Exception {
    byte[] png = picture("png", 9, 32, 32);
    slowPacs = HttpServer.create(new InetSocketAddress("127.0.0.1", SLOW_PACS_PORT), 0);
    slowPacs.setExecutor(java.util.concurrent.Executors.newCachedThreadPool());
    slowPacs.createContext("/slow/", exchange -> {
      imagesAsked.incrementAndGet();
      try {
        release.await(20, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      exchange.getResponseHeaders().add("Content-Type", "image/png");
      exchange.sendResponseHeaders(200, png.length);
      exchange.getResponseBody().write(png);
      exchange.close();
      imagesSent.incrementAndGet();
    });
    // QIDO-RS listing of a series' instances, held until released; rendered images answered at once.
    slowPacs.createContext("/slow-listing/", exchange -> {
      byte[] body;
      String type;
      if (exchange.getRequestURI().getPath().endsWith("/instances")) {
        listingsAsked.incrementAndGet();
        try {
          releaseListing.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        body = ("[{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"" + LISTED_SERIES_UID + ".1\"]},"
            + "\"00200013\":{\"vr\":\"IS\",\"Value\":[1]}},"
            + "{\"00080018\":{\"vr\":\"UI\",\"Value\":[\"" + LISTED_SERIES_UID + ".2\"]},"
            + "\"00200013\":{\"vr\":\"IS\",\"Value\":[2]}}]").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        type = "application/dicom+json";
        listingsAnswered.incrementAndGet();
      } else {
        body = png;
        type = "image/png";
      }
      exchange.getResponseHeaders().add("Content-Type", type);
      exchange.sendResponseHeaders(200, body.length);
      exchange.getResponseBody().write(body);
      exchange.close();
    });
    slowPacs.createContext("/failing-listing/", exchange -> {
      failingListingsAsked.incrementAndGet();
      exchange.sendResponseHeaders(500, -1);
      exchange.close();
    });
    slowPacs.start();
  }

  static final String LISTED_STUDY_UID = "1.2.826.0.1.3680043.10.999.8";
  static final String LISTED_SERIES_UID = LISTED_STUDY_UID + ".1";  // the series unlisted() adds

  @AfterAll
  void stopSlowPacs() {
    release.countDown();
    releaseListing.countDown();
    slowPacs.stop(0);
  }

  @Test
  void theKickOffAnswers202BeforeThePacsHasSentAnyImage() throws Exception {
    String address = "http://127.0.0.1:" + slowPacs.getAddress().getPort() + "/slow/dicom-web";
    String endpoint = StudyFixtures.endpoint(client, address);
    String study = StudyFixtures.create(client, s -> {
      s.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + STUDY_UID);
      s.addEndpoint(new Reference(endpoint));
      StudyFixtures.series(s, SERIES_UID, 1, "CR", SERIES_UID + ".1", SERIES_UID + ".2");
    }).study();
    String model = register("slow-pacs", ScriptedEngine.images("slow-pacs", 4096, 16,
        request -> "## Impression\nNo acute finding."));
    Parameters parameters = new Parameters();
    parameters.addParameter("model", new StringType(model));

    // While the PACS holds every image, the kick-off must already have answered.
    HttpResponse<String> kickoff = post("/" + study + "/$draft-report", parameters, "Prefer", "respond-async");
    assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
    assertThat(imagesSent.get()).as("images delivered before the 202").isZero();
    String status = kickoff.headers().firstValue("Content-Location").orElseThrow();
    HttpResponse<String> running = http.send(HttpRequest.newBuilder(URI.create(status)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(running.statusCode()).isEqualTo(202);

    release.countDown();
    HttpResponse<String> done = running;
    for (int i = 0; i < 600 && done.statusCode() == 202; i++) {
      Thread.sleep(100);
      done = http.send(HttpRequest.newBuilder(URI.create(status)).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
    }
    assertThat(done.statusCode()).as(done.body()).isEqualTo(200);
    Bundle result = parse(done, Bundle.class);
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("201");
    assertThat(imagesAsked.get()).isEqualTo(2);
  }

  /** A study at the slow PACS under {@code path} whose one CR series lists no instances, and a scripted model. */
  private record Unlisted(String study, Parameters parameters) {}

  private Unlisted unlisted(String path, String studyUid, String model) {
    String endpoint = StudyFixtures.endpoint(client, "http://127.0.0.1:" + slowPacs.getAddress().getPort() + path);
    String study = StudyFixtures.create(client, s -> {
      s.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:" + studyUid);
      s.addEndpoint(new Reference(endpoint));
      StudyFixtures.series(s, studyUid + ".1", 1, "CR");
    }).study();
    register(model, ScriptedEngine.images(model, 4096, 16, request -> "## Impression\nNo acute finding."));
    Parameters parameters = new Parameters();
    parameters.addParameter("model", new StringType(model));
    return new Unlisted(study, parameters);
  }

  /** A study whose series lists no instances: the QIDO-RS listing is the job's, not the kick-off's. */
  @Test
  void theKickOffAnswers202BeforeThePacsListsTheInstances() throws Exception {
    Unlisted unlisted = unlisted("/slow-listing/dicom-web", LISTED_STUDY_UID, "slow-listing");

    HttpResponse<String> kickoff = post("/" + unlisted.study() + "/$draft-report", unlisted.parameters(),
        "Prefer", "respond-async");
    assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
    assertThat(listingsAnswered.get()).as("instance listings answered before the 202").isZero();

    releaseListing.countDown();
    Bundle result = jobResult(kickoff);
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("201");
    assertThat(result.getEntryFirstRep().getResponse().getLocation()).startsWith("DiagnosticReport/");
    assertThat(listingsAsked.get()).isEqualTo(1);

    // The same request again: the job (which alone knows the images, hence the key) answers with that draft.
    Bundle second = jobResult(post("/" + unlisted.study() + "/$draft-report", unlisted.parameters(),
        "Prefer", "respond-async"));
    assertThat(second.getEntryFirstRep().getResponse().getStatus()).startsWith("200");
    assertThat(second.getEntryFirstRep().getResponse().getLocation())
        .isEqualTo(result.getEntryFirstRep().getResponse().getLocation());
  }

  /** The listing fails on the PACS: the kick-off still answers 202, the job ends in a 502, nothing is written. */
  @Test
  void aPacsFailureWhileListingFailsTheJobAndWritesNothing() throws Exception {
    Unlisted unlisted = unlisted("/failing-listing/dicom-web", LISTED_STUDY_UID + ".9", "failing-listing");
    var before = written();

    Bundle result = jobResult(post("/" + unlisted.study() + "/$draft-report", unlisted.parameters(),
        "Prefer", "respond-async"));
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("502");
    assertThat(((org.hl7.fhir.r4.model.OperationOutcome) result.getEntryFirstRep().getResponse().getOutcome())
        .getIssueFirstRep().getDiagnostics()).contains("The PACS failed").contains("/instances");
    assertThat(failingListingsAsked.get()).isEqualTo(1);
    assertThat(written()).isEqualTo(before);
  }
}
