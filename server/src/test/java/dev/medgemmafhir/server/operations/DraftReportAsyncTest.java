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
 * {@code Prefer: respond-async} on {@code $draft-report} answers 202 before any image is fetched:
 * a slow PACS (here one that holds every image until the test lets it go) delays the job, not the
 * kick-off.
 */
class DraftReportAsyncTest extends AiOperationsServer {

  static final String STUDY_UID = "1.2.826.0.1.3680043.10.999.7";
  static final String SERIES_UID = STUDY_UID + ".1";

  HttpServer slowPacs;
  final CountDownLatch release = new CountDownLatch(1);
  final AtomicInteger imagesAsked = new AtomicInteger();
  final AtomicInteger imagesSent = new AtomicInteger();

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
    slowPacs.start();
  }

  @AfterAll
  void stopSlowPacs() {
    release.countDown();
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
}
