package dev.medgemmafhir.server.surfaces;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.interceptors.smart.TestIssuer;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.server.operations.ScriptedEngine;
import dev.medgemmafhir.server.security.AiDrafts;
import dev.medgemmafhir.server.security.FhirHttp;
import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.BeforeEach;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * One server for the MCP and CDS Hooks tests (they share its Spring context): security on with
 * tokens from {@link #ISSUER}, an EHR ({@link #EHR}) trusted to call the CDS services, and a
 * scripted model {@code scripted} the surfaces name when they start a draft.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:surfaces-secured;DB_CLOSE_DELAY=-1",
      "medgemma.cds-hooks.model=scripted",
      "medgemma.cds-hooks.allowed-origins[0]=" + SecuredSurfacesServer.CDS_CLIENT_ORIGIN,
      "medgemma.fhir.cors-allowed-origins[0]=" + SecuredSurfacesServer.SMART_APP_ORIGIN,
      "medgemma.async.heartbeat=200ms"
    })
abstract class SecuredSurfacesServer {

  // The issuers live as long as the test JVM: the cached Spring context (and its JWK caches) outlives a class.
  static final TestIssuer ISSUER = startIssuer();
  static final TestIssuer EHR = startIssuer();
  static final String ADMIN = "system/*.cruds";
  static final String SCRIPTED_TEXT = "Stable on day two [C1].";
  /** The web page origin of a browser-based CDS client the server lets call (CORS). */
  static final String CDS_CLIENT_ORIGIN = "http://127.0.0.1:8181";
  /** The web page origin of a browser-based SMART app the server lets call /fhir (CORS). */
  static final String SMART_APP_ORIGIN = "http://127.0.0.1:8383";

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
    registry.add("medgemma.cds-hooks.trusted-issuers[0].issuer", () -> EHR.issuer().toString());
    registry.add("medgemma.cds-hooks.trusted-issuers[0].jwks-uri", () -> EHR.jwksUri().toString());
  }

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  FhirHttp fhir;

  @BeforeEach
  void connectAndProvideTheModel() {
    fhir = new FhirHttp(port);
    if (!catalog.states().containsKey("scripted")) {
      catalog.put("scripted", "Scripted model", ScriptedEngine.textOnly("surfaces", r -> SCRIPTED_TEXT),
          new InferenceQueue("scripted", 1, 4, 10, null));
    }
  }

  /** One patient's data with AI drafts, plus a diagnosis of the encounter so it can be summarized. */
  AiDrafts.Ids seed() {
    HttpResponse<String> response = fhir.post("", ISSUER.token(ADMIN), AiDrafts.transaction());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    AiDrafts.Ids ids = AiDrafts.Ids.from(FhirHttp.parse(response, Bundle.class));
    Condition condition = new Condition().setSubject(new Reference(ids.patient()))
        .setEncounter(new Reference(ids.encounter()))
        .setCode(new CodeableConcept(new Coding("http://snomed.info/sct", "233604007", "Pneumonia")));
    assertThat(fhir.post("Condition", ISSUER.token(ADMIN), condition).statusCode()).isEqualTo(201);
    return ids;
  }

  private static TestIssuer startIssuer() {
    try {
      return new TestIssuer();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
