package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.interceptors.smart.TestIssuer;
import dev.medgemmafhir.server.SyntheaFixtures;
import dev.medgemmafhir.server.security.FhirHttp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Parameters;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * One secured server for the AI Transparency, replay and eval tests (they share its Spring
 * context): tokens from {@link #ISSUER}, the forged text-only model as {@code forged} (for
 * {@code $summarize}) in a directory that also carries a {@code conversion.json} (as
 * {@code models convert} writes it; also {@code $ask}), the forged image+text model as {@code vision} (for
 * {@code $draft-report}), small token limits, and two Synthea patients.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:transparency;DB_CLOSE_DELAY=-1",
      "medgemma.models.forged.display-name=Forged tiny text model",
      "medgemma.models.vision.display-name=Forged tiny image-text model",
      "medgemma.operations.summarize.model=forged",
      "medgemma.operations.ask.model=forged",
      "medgemma.operations.draft-report.model=vision",
      "medgemma.operations.ask.default-max-tokens=8",
      "medgemma.operations.ask.max-tokens=16",
      "medgemma.operations.draft-report.default-max-tokens=8",
      "medgemma.operations.draft-report.max-tokens=16",
      "medgemma.operations.summarize.default-max-tokens=8",
      "medgemma.operations.summarize.max-tokens=16",
      "medgemma.async.heartbeat=200ms"
    })
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TransparencyServer {

  // The issuer lives as long as the test JVM: the cached Spring context outlives a class.
  static final TestIssuer ISSUER = startIssuer();
  static final String ADMIN = "system/*.cruds";
  /** The sha256 the conversion record names for the (pretend) official weights file. */
  static final String SOURCE_SHA256 = "4f2a9c0d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7";
  static final Path MODEL_DIR = forge();
  /** The forged image+text model, for {@code $draft-report}. */
  static final Path VISION_DIR = forgeVision();

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
    registry.add("medgemma.models.forged.path", MODEL_DIR::toString);
    registry.add("medgemma.models.vision.path", VISION_DIR::toString);
  }

  @LocalServerPort int port;
  FhirHttp fhir;
  String admin;
  String patientA;
  String patientB;
  String encounterA;

  @BeforeAll
  void connectLoadPatientsAndWaitForTheModel() throws Exception {
    fhir = new FhirHttp(port);
    admin = ISSUER.token(ADMIN);
    for (int i = 0; i < 600 && readyz() != 200; i++) {
      Thread.sleep(100);
    }
    assertThat(readyz()).as("model loaded").isEqualTo(200);
    for (String reference : SyntheaFixtures.REFERENCE_DATA) {
      assertThat(fhir.post("", admin, SyntheaFixtures.read(FhirHttp.FHIR, reference)).statusCode()).isEqualTo(200);
    }
    patientA = load(SyntheaFixtures.PATIENTS.get(0));
    patientB = load(SyntheaFixtures.PATIENTS.get(1));
    encounterA = encounterWithObservations(patientA);
  }

  private int readyz() throws Exception {
    return java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
        java.net.URI.create("http://127.0.0.1:" + port + "/readyz")).build(), HttpResponse.BodyHandlers.discarding())
        .statusCode();
  }

  String base() {
    return "http://127.0.0.1:" + port + "/fhir";
  }

  private String load(String fixture) {
    HttpResponse<String> response = fhir.post("", admin, SyntheaFixtures.read(FhirHttp.FHIR, fixture));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Bundle bundle = FhirHttp.parse(response, Bundle.class);
    return new IdType(bundle.getEntryFirstRep().getResponse().getLocation()).toUnqualifiedVersionless().getValue();
  }

  /** An encounter of the patient with recorded observations (something to summarize). */
  String encounterWithObservations(String patient) {
    Bundle encounters = FhirHttp.parse(fhir.get("Encounter?patient=" + patient + "&_count=100", admin), Bundle.class);
    for (Bundle.BundleEntryComponent e : encounters.getEntry()) {
      String id = "Encounter/" + e.getResource().getIdElement().getIdPart();
      Bundle count = FhirHttp.parse(fhir.get("Observation?encounter=" + id + "&_summary=count", admin), Bundle.class);
      if (count.getTotal() > 2) {
        return id;
      }
    }
    throw new IllegalStateException("no encounter with observations for " + patient);
  }

  static Parameters params(Object... nameValue) {
    Parameters parameters = new Parameters();
    for (int i = 0; i < nameValue.length; i += 2) {
      Object value = nameValue[i + 1];
      parameters.addParameter().setName((String) nameValue[i]).setValue(value instanceof Integer n
          ? new org.hl7.fhir.r4.model.IntegerType(n) : value instanceof Boolean b
          ? new org.hl7.fhir.r4.model.BooleanType(b) : new org.hl7.fhir.r4.model.StringType((String) value));
    }
    return parameters;
  }

  static String patientToken(String scopes, String patient) {
    return ISSUER.token(scopes, c -> c.claim("patient", new IdType(patient).getIdPart()));
  }

  /** The forged model, with the conversion record {@code models convert} would have written beside it. */
  private static Path forge() {
    try {
      Path dir = Files.createTempDirectory("medgemma-transparency-").resolve("forged-medgemma");
      Files.createDirectories(dir);
      ModelForge.forge(ForgeSpec.textOnly().seed(7), dir);
      Files.writeString(dir.resolve("conversion.json"), """
          {"converter":"medgemma-fhir","converterVersion":"test","convertedAt":"2026-11-30T00:00:00Z",
           "source":{"repository":"google/medgemma-4b-it","revision":"0123456789abcdef0123456789abcdef01234567",
             "architecture":"Gemma3ForConditionalGeneration","dtype":"BF16",
             "files":[{"path":"model-00001-of-00001.safetensors","bytes":1234,"sha256":"%s"},
                      {"path":"config.json","bytes":10,"sha256":"00"}]},
           "options":{"dtype":"q4","attention":"default"},"layout":"transformers.js","graphs":[]}
          """.formatted(SOURCE_SHA256));
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path forgeVision() {
    try {
      Path dir = Files.createTempDirectory("medgemma-transparency-vision-");
      ModelForge.forge(ForgeSpec.imageText().seed(11), dir);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static TestIssuer startIssuer() {
    try {
      return new TestIssuer();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
