package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.api.CacheControlDirective;
import ca.uhn.fhir.rest.api.SummaryEnum;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import io.micrometer.core.instrument.MeterRegistry;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;
import javax.imageio.ImageIO;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * One server for the AI operations' end-to-end tests (the test classes share its Spring context):
 * H2 in memory, the forged image+text model as {@code vision}, small token limits. Tests that need
 * to see the prompt or make the engine fail register a {@link ScriptedEngine} next to it.
 */
// Metrics export is on: the operations' Prometheus metrics are under test.
@AutoConfigureObservability
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:ai-operations;DB_CLOSE_DELAY=-1",
      "medgemma.operations.summarize.default-max-tokens=8",
      "medgemma.operations.summarize.max-tokens=16",
      "medgemma.operations.draft-report.default-max-tokens=12",
      "medgemma.operations.draft-report.max-tokens=24",
      "medgemma.operations.draft-report.default-max-images=4",
      "medgemma.operations.draft-report.max-images=6",
      "medgemma.operations.draft-report.max-images-per-series=3",
      "medgemma.operations.draft-report.dicomweb.connect-timeout=2s",
      "medgemma.operations.draft-report.dicomweb.timeout=10s",
      "medgemma.models.vision.display-name=Forged tiny image-text model",
      "medgemma.models.vision.concurrency=1",
      "medgemma.models.vision.max-queue=4",
      "medgemma.async.heartbeat=200ms",
      "medgemma.operations.stream-heartbeat=200ms"
    })
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class AiOperationsServer {

  static final FhirContext FHIR = FhirContext.forR4Cached();

  /**
   * Ports of the test PACS servers (a fake one, Orthanc, and one nobody listens on), chosen before
   * the server starts so that dicomweb.allowed-addresses can name them: the default allows none.
   */
  static final int FAKE_PACS_PORT = freePort();
  static final int ORTHANC_PORT = freePort();
  static final int CLOSED_PORT = freePort();
  /** The PACS of DraftReportAsyncTest, which holds every image until released. */
  static final int SLOW_PACS_PORT = freePort();

  @DynamicPropertySource
  static void model(DynamicPropertyRegistry registry) {
    registry.add("medgemma.models.vision.path", () -> ForgedModels.imageText().toString());
    registry.add("medgemma.operations.draft-report.dicomweb.allowed-addresses", () -> String.join(",",
        "http://127.0.0.1:" + FAKE_PACS_PORT, "http://127.0.0.1:" + ORTHANC_PORT, "http://127.0.0.1:" + CLOSED_PORT,
        "http://127.0.0.1:" + SLOW_PACS_PORT));
  }

  static int freePort() {
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      return socket.getLocalPort();
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  @Autowired MeterRegistry meters;
  IGenericClient client;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  void connectAndWaitForTheModel() throws Exception {
    FHIR.getRestfulClientFactory().setServerValidationMode(ServerValidationModeEnum.NEVER);
    FHIR.getRestfulClientFactory().setSocketTimeout(120_000);
    client = FHIR.newRestfulGenericClient(base());
    for (int i = 0; i < 600 && get("/readyz").statusCode() != 200; i++) {
      Thread.sleep(100);
    }
    assertThat(get("/readyz").statusCode()).as("model loaded").isEqualTo(200);
  }

  String base() {
    return "http://localhost:" + port + "/fhir";
  }

  HttpResponse<String> get(String path) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> post(String path, Parameters parameters, String... headers) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(base() + path))
        .timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(FHIR.newJsonParser().encodeResourceToString(parameters)));
    for (int i = 0; i < headers.length; i += 2) {
      request.header(headers[i], headers[i + 1]);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * Polls the status URL of an accepted kick-off (which must be a 202) until the job ended; returns
   * the batch-response Bundle. Bounded, and no assertion on how long it took.
   */
  Bundle jobResult(HttpResponse<String> kickoff) throws Exception {
    assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
    URI status = URI.create(kickoff.headers().firstValue("Content-Location").orElseThrow());
    HttpResponse<String> poll = null;
    for (int i = 0; i < 600; i++) {
      poll = http.send(HttpRequest.newBuilder(status).timeout(Duration.ofSeconds(30)).build(),
          HttpResponse.BodyHandlers.ofString());
      if (poll.statusCode() != 202) {
        break;
      }
      Thread.sleep(100);
    }
    assertThat(poll.statusCode()).as(poll.body()).isEqualTo(200);
    return parse(poll, Bundle.class);
  }

  <T extends Resource> T parse(HttpResponse<String> response, Class<T> type) {
    return type.cast(FHIR.newJsonParser().parseResource(response.body()));
  }

  /** A finished ambulatory encounter of a new patient with one temperature observation: the least $summarize needs. */
  String encounterWithAFact() {
    String patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setCode("AMB");
    String encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter));
    o.getCode().setText("Temperature");
    o.setValue(new Quantity(37.2).setUnit("Cel"));
    client.create().resource(o).execute();
    return encounter;
  }

  /** Counts now: without no-cache, HAPI would answer a repeated search from its cache of a minute ago. */
  int count(Class<? extends Resource> type) {
    return client.search().forResource(type).summaryMode(SummaryEnum.COUNT)
        .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute().getTotal();
  }

  /** Devices written for a {@link ScriptedEngine} named {@code name}. */
  int devicesFor(String name) {
    return client.search().forResource(Device.class)
        .where(Device.IDENTIFIER.exactly().systemAndValues("urn:medgemma-fhir:model",
            "scripted/" + name + ":none:sha256:" + name))
        .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute()
        .getEntry().size();
  }

  /** How many resources of each type the AI operations write exist now. */
  Map<String, Integer> written() {
    return Map.of("DiagnosticReport", count(DiagnosticReport.class), "DocumentReference",
        count(DocumentReference.class), "Provenance", count(Provenance.class), "Device", count(Device.class));
  }

  /** Registers {@code engine} as model {@code id} next to the forged one. */
  String register(String id, Engine engine) {
    catalog.put(id, "Scripted " + id, engine, new InferenceQueue(id, 1, 4, 10, null));
    return id;
  }

  void assertOutcome(HttpResponse<String> response, int status, String... diagnosticsContain) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
    OperationOutcome outcome = parse(response, OperationOutcome.class);
    for (String text : diagnosticsContain) {
      assertThat(outcome.getIssueFirstRep().getDiagnostics()).containsIgnoringCase(text);
    }
  }

  /** A small grayscale picture, different for each seed. */
  static byte[] picture(String format, int seed, int width, int height) {
    BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        image.getRaster().setSample(x, y, 0, (x * (seed + 3) + y * 7 + seed * 31) % 256);
      }
    }
    try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
      if (!ImageIO.write(image, format, out)) {
        throw new IllegalStateException("no ImageIO writer for " + format);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
