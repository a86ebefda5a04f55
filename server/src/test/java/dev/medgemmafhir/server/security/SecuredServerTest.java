package dev.medgemmafhir.server.security;

import static dev.medgemmafhir.server.security.FhirHttp.outcome;
import static dev.medgemmafhir.server.security.FhirHttp.parse;
import static org.assertj.core.api.Assertions.assertThat;

import com.nimbusds.jose.util.JSONObjectUtils;
import dev.medgemmafhir.interceptors.smart.TestIssuer;
import java.net.http.HttpResponse;
import java.util.Date;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The server with {@code medgemma.security.enabled=true}, tokens from a real issuer over HTTP
 * (discovery + JWKS): authentication, each scope rule, patient compartments, the operation scope
 * policy, {@code $verify} by a Practitioner, label protection and the audit trail.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:security-on;DB_CLOSE_DELAY=-1")
class SecuredServerTest {

  static final TestIssuer ISSUER = startIssuer();
  static final String ADMIN = "system/*.cruds";

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
    // jwks-uri is left out on purpose: it is discovered from the issuer.
    registry.add("medgemma.security.jwks-min-refresh-interval", () -> "1ms");
    registry.add("medgemma.audit.unauthenticated-per-minute", () -> "3");
  }

  @LocalServerPort int port;
  FhirHttp fhir;

  @BeforeEach
  void connect() {
    fhir = new FhirHttp(port);
  }

  @AfterAll
  static void stopIssuer() {
    ISSUER.close();
  }

  AiDrafts.Ids seed() {
    HttpResponse<String> response = fhir.post("", ISSUER.token(ADMIN), AiDrafts.transaction());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return AiDrafts.Ids.from(parse(response, Bundle.class));
  }

  String token(String scopes) {
    return ISSUER.token(scopes);
  }

  String patientToken(String scopes, String patient) {
    return ISSUER.token(scopes, c -> c.claim("patient", new IdType(patient).getIdPart()));
  }

  String practitionerToken(String scopes, String fhirUser) {
    return ISSUER.token(scopes, c -> c.claim("fhirUser", fhirUser));
  }

  static Parameters verify(String decision) {
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("decision").setValue(new CodeType(decision));
    return parameters;
  }

  @Test
  void requestsWithoutAValidTokenAre401OperationOutcomes() {
    HttpResponse<String> none = fhir.get("Patient", null);
    assertThat(outcome(none, 401)).contains("Bearer");
    assertThat(none.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));

    Date past = new Date(System.currentTimeMillis() - 600_000);
    assertThat(outcome(fhir.get("Patient", ISSUER.token(ADMIN, c -> c.expirationTime(past))), 401)).contains("xpired");
    outcome(fhir.get("Patient", ISSUER.token(ADMIN, c -> c.audience("https://another-server/fhir"))), 401);
    outcome(fhir.get("Patient", ISSUER.token(ADMIN, c -> c.issuer("https://another-issuer"))), 401);
    outcome(fhir.get("Patient", ISSUER.forgedToken(ADMIN)), 401);
    outcome(fhir.get("Patient", "not.a.token"), 401);
    // A patient claim must be a plain Patient id: a version, search or URL is a bad token, not a 500.
    for (Object claim : List.of("p1/_history/1", "Patient/p1/_history/1", "p1?x=y", "https://x/fhir/Patient/p1", "", 42)) {
      assertThat(outcome(fhir.get("Patient", ISSUER.token("patient/*.rs", c -> c.claim("patient", claim))), 401))
          .as("patient claim %s", claim).contains("patient");
    }
    assertThat(fhir.get("Patient", ISSUER.token(ADMIN)).statusCode()).isEqualTo(200);
  }

  @Test
  @SuppressWarnings("unchecked")
  void metadataAndSmartConfigurationAreServedWithoutATokenFromConfiguration() throws Exception {
    HttpResponse<String> metadata = fhir.get("metadata", null);
    assertThat(metadata.statusCode()).isEqualTo(200);
    CapabilityStatement cs = parse(metadata, CapabilityStatement.class);
    var security = cs.getRestFirstRep().getSecurity();
    assertThat(security.getServiceFirstRep().getCodingFirstRep().getCode()).isEqualTo("SMART-on-FHIR");
    assertThat(security.getExtensionByUrl("http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")
        .getExtensionByUrl("token").getValue().primitiveValue()).isEqualTo(ISSUER.issuer() + "/token");
    assertThat(security.getDescription()).contains("$summarize needs Encounter.r + DocumentReference.c");

    HttpResponse<String> smart = fhir.get(".well-known/smart-configuration", null);
    assertThat(smart.statusCode()).isEqualTo(200);
    assertThat(smart.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v).startsWith("application/json"));
    Map<String, Object> doc = JSONObjectUtils.parse(smart.body());
    assertThat(doc).containsEntry("issuer", ISSUER.issuer().toString())
        .containsEntry("token_endpoint", ISSUER.issuer() + "/token")
        .containsEntry("authorization_endpoint", ISSUER.issuer() + "/authorize")
        .containsEntry("jwks_uri", ISSUER.jwksUri().toString())
        .containsEntry("code_challenge_methods_supported", List.of("S256"));
    assertThat((List<Object>) doc.get("capabilities")).contains("permission-v2", "permission-patient");
    assertThat((List<Object>) doc.get("grant_types_supported")).contains("authorization_code");
  }

  @Test
  void aRotatedSigningKeyIsPickedUpWithoutARestart() {
    String before = token("user/Patient.s");
    assertThat(fhir.get("Patient", before).statusCode()).isEqualTo(200);

    ISSUER.rotate();

    assertThat(fhir.get("Patient", token("user/Patient.s")).statusCode()).isEqualTo(200);
    // The old key is no longer published: its tokens are now refused.
    outcome(fhir.get("Patient", before), 401);
  }

  @Test
  void readSearchCreateUpdateAndDeleteEachNeedTheirOwnPermission() {
    AiDrafts.Ids ids = seed();
    String readOnly = token("user/Patient.r");
    assertThat(fhir.get(ids.patient(), readOnly).statusCode()).isEqualTo(200);
    outcome(fhir.get("Patient?_id=" + new IdType(ids.patient()).getIdPart(), readOnly), 403);
    outcome(fhir.get(ids.observation(), readOnly), 403);

    String searchOnly = token("user/Patient.s");
    assertThat(fhir.get("Patient?_id=" + new IdType(ids.patient()).getIdPart(), searchOnly).statusCode()).isEqualTo(200);
    outcome(fhir.get(ids.patient(), searchOnly), 403);

    Observation observation = parse(fhir.get(ids.observation(), token(ADMIN)), Observation.class);
    observation.setStatus(Observation.ObservationStatus.AMENDED);
    outcome(fhir.put(ids.observation(), token("user/Observation.c"), observation), 403);
    assertThat(fhir.put(ids.observation(), token("user/Observation.u"), observation).statusCode()).isEqualTo(200);
    Observation fresh = observation.copy();
    fresh.setId((String) null);
    outcome(fhir.post("Observation", token("user/Observation.u"), fresh), 403);
    assertThat(fhir.post("Observation", token("user/Observation.c"), fresh).statusCode()).isEqualTo(201);

    outcome(fhir.delete(ids.observation(), token("user/Observation.cru")), 403);
    assertThat(fhir.delete(ids.observation(), token("user/Observation.d")).statusCode()).isIn(200, 204);
    // v1 scopes: write = cud, read = rs.
    assertThat(fhir.post("Observation", token("user/Observation.write"), fresh).statusCode()).isEqualTo(201);
    assertThat(fhir.get("Observation?_id=" + new IdType(ids.observation()).getIdPart(), token("user/Observation.read"))
        .statusCode()).isEqualTo(200);
  }

  @Test
  void patientScopesReachOnlyTheTokensPatient() {
    AiDrafts.Ids mine = seed();
    AiDrafts.Ids theirs = seed();
    String token = patientToken("patient/*.rs", mine.patient());

    assertThat(fhir.get(mine.patient(), token).statusCode()).isEqualTo(200);
    assertThat(fhir.get(mine.observation(), token).statusCode()).isEqualTo(200);
    // Another patient's resources read exactly like missing ones: ids cannot be probed.
    assertThat(outcome(fhir.get(theirs.patient(), token), 404)).contains("is not known");
    assertThat(outcome(fhir.get(theirs.observation(), token), 404)).contains("is not known");
    outcome(fhir.get("Observation?subject=" + theirs.patient(), token), 403);

    // An unqualified search is narrowed to the token's patient.
    Bundle all = parse(fhir.get("Observation", token), Bundle.class);
    assertThat(all.getEntry()).isNotEmpty().allSatisfy(e ->
        assertThat(((Observation) e.getResource()).getSubject().getReference()).isEqualTo(mine.patient()));

    // patient/ scopes without a patient claim grant nothing.
    outcome(fhir.get(mine.patient(), token("patient/*.rs")), 403);
  }

  @Test
  void verifyNeedsUpdateScopeThePatientsCompartmentAndAPractitioner() {
    AiDrafts.Ids ids = seed();
    AiDrafts.Ids other = seed();
    String path = ids.document() + "/$verify";

    assertThat(outcome(fhir.post(path, practitionerToken("user/DocumentReference.rs", ids.practitioner()),
        verify("accept")), 403)).contains("DocumentReference.u");
    assertThat(outcome(fhir.post(path, ISSUER.token("patient/DocumentReference.u",
        c -> c.claim("patient", new IdType(other.patient()).getIdPart()).claim("fhirUser", ids.practitioner())),
        verify("accept")), 403)).contains("compartment");
    assertThat(outcome(fhir.post(path, practitionerToken("user/DocumentReference.u", ids.patient()),
        verify("accept")), 403)).contains("Practitioner");
    // Nothing was written by the refused calls.
    assertThat(parse(fhir.get(ids.document(), token(ADMIN)), DocumentReference.class).getDocStatus())
        .isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);

    Parameters accept = verify("accept");
    accept.addParameter().setName("note").setValue(new StringType("Checked against the chart."));
    HttpResponse<String> accepted = fhir.post(path, practitionerToken("user/DocumentReference.u", ids.practitioner()), accept);
    assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(200);
    DocumentReference verified = parse(accepted, DocumentReference.class);
    assertThat(verified.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.FINAL);
    assertThat(verified.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));

    Bundle provenances = parse(fhir.get("Provenance?target=" + ids.document(), token(ADMIN)), Bundle.class);
    assertThat(provenances.getEntry()).extracting(e -> (Provenance) e.getResource())
        .anySatisfy(p -> {
          assertThat(p.getAgentFirstRep().getType().getCodingFirstRep().getCode()).isEqualTo("verifier");
          assertThat(p.getAgentFirstRep().getWho().getReference()).isEqualTo(ids.practitioner());
        });

    Bundle audit = parse(fhir.get("AuditEvent?entity=" + ids.document(), token(ADMIN)), Bundle.class);
    List<AuditEvent> events = audit.getEntry().stream().map(e -> (AuditEvent) e.getResource()).toList();
    assertThat(events).hasSize(4);
    assertThat(events).allSatisfy(e -> {
      assertThat(e.getSubtype()).anyMatch(c -> "verify".equals(c.getCode()));
      assertThat(e.getPeriod().hasStart()).isTrue();
    });
    AuditEvent success = events.stream().filter(e -> e.getOutcome() == AuditEvent.AuditEventOutcome._0)
        .findFirst().orElseThrow();
    assertThat(success.getAgent()).anySatisfy(a -> {
      assertThat(a.getRequestor()).isTrue();
      assertThat(a.getWho().getReference()).isEqualTo(ids.practitioner());
    });
    assertThat(success.getAgent()).anySatisfy(a -> assertThat(a.getWho().getReference()).isEqualTo(ids.device()));
    assertThat(events.stream().filter(e -> e.getOutcome() == AuditEvent.AuditEventOutcome._4)).hasSize(3);
  }

  @Test
  void aFhirUserOnAnotherServerIsNotTheLocalPractitioner() {
    AiDrafts.Ids ids = seed();
    String path = ids.document() + "/$verify";
    assertThat(outcome(fhir.post(path, practitionerToken("user/DocumentReference.u",
        "https://elsewhere.example/fhir/" + ids.practitioner()), verify("accept")), 403)).contains("Practitioner");
    assertThat(parse(fhir.get(ids.document(), token(ADMIN)), DocumentReference.class).getDocStatus())
        .isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);

    // The same Practitioner as an absolute URL on this server's base is the local one.
    HttpResponse<String> accepted = fhir.post(path, practitionerToken("user/DocumentReference.u",
        "http://localhost:" + port + "/fhir/" + ids.practitioner()), verify("accept"));
    assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(200);
    Bundle provenances = parse(fhir.get("Provenance?target=" + ids.document(), token(ADMIN)), Bundle.class);
    assertThat(provenances.getEntry()).extracting(e -> (Provenance) e.getResource())
        .anySatisfy(p -> assertThat(p.getAgentFirstRep().getWho().getReference()).isEqualTo(ids.practitioner()));
  }

  @Test
  void aiOperationsNeedWhatTheyReadAndWrite() {
    // A wiring regression must fail here, not skip.
    assertThat(operationExists("summarize")).as("$summarize is registered").isTrue();
    AiDrafts.Ids ids = seed();
    AiDrafts.Ids other = seed();
    String path = ids.encounter() + "/$summarize";

    assertThat(outcome(fhir.post(path, token("user/Encounter.r"), new Parameters()), 403))
        .contains("DocumentReference.c");
    assertThat(outcome(fhir.post(path, token("user/DocumentReference.c"), new Parameters()), 403))
        .contains("Encounter.r");
    assertThat(outcome(fhir.post(path, patientToken("patient/Encounter.r patient/DocumentReference.c", other.patient()),
        new Parameters()), 403)).contains("compartment");
    // Allowed through: whatever the operation answers (no model is configured here), it is not a scope refusal.
    assertThat(fhir.post(path, token("user/Encounter.r user/DocumentReference.c"), new Parameters()).statusCode())
        .isNotIn(401, 403);
    assertThat(fhir.post(path, patientToken("patient/Encounter.r patient/DocumentReference.c", ids.patient()),
        new Parameters()).statusCode()).isNotIn(401, 403);

    Bundle audit = parse(fhir.get("AuditEvent?entity=" + ids.encounter(), token(ADMIN)), Bundle.class);
    assertThat(audit.getEntry()).hasSize(5).allSatisfy(e ->
        assertThat(((AuditEvent) e.getResource()).getSubtype()).anyMatch(c -> "summarize".equals(c.getCode())));
  }

  static Parameters question(boolean persist) {
    Parameters parameters = new Parameters();
    parameters.addParameter("question", new StringType("When was her last HbA1c?"));
    if (persist) {
      parameters.addParameter("persist", new org.hl7.fhir.r4.model.BooleanType(true));
    }
    return parameters;
  }

  @Test
  void askNeedsToReadItsRecordAndToCreateOnlyWhenKeepingTheAnswer() {
    assertThat(operationExists("ask")).as("$ask is registered").isTrue();
    AiDrafts.Ids ids = seed();
    AiDrafts.Ids other = seed();
    String path = ids.patient() + "/$ask";

    assertThat(outcome(fhir.post(path, token("user/Encounter.r"), question(false)), 403)).contains("Patient.r");
    assertThat(outcome(fhir.post(path, patientToken("patient/Patient.r", other.patient()), question(false)), 403))
        .contains("compartment");
    assertThat(outcome(fhir.post(path, token("user/Patient.r"), question(true)), 403)).contains("DocumentReference.c");
    assertThat(outcome(fhir.post(path + "?persist=true", token("user/Patient.r"), question(false)), 403))
        .contains("DocumentReference.c");
    // Allowed through: whatever the operation answers (no model is configured here), it is not a scope refusal.
    assertThat(fhir.post(path, patientToken("patient/Patient.r", ids.patient()), question(false)).statusCode())
        .isNotIn(401, 403);
    assertThat(fhir.post(path, token("user/Patient.r user/DocumentReference.c"), question(true)).statusCode())
        .isNotIn(401, 403);
    assertThat(outcome(fhir.post(ids.encounter() + "/$ask", token("user/Patient.r"), question(false)), 403))
        .contains("Encounter.r");
    assertThat(fhir.post(ids.encounter() + "/$ask", token("user/Encounter.r"), question(false)).statusCode())
        .isNotIn(401, 403);
    // [base]/$ask reads no record and writes nothing: a valid token is enough. (Without one it is a 401 like
    // every call; not asserted here, as each such call takes from the class-wide unauthenticated audit budget.)
    assertThat(fhir.post("$ask", patientToken("patient/Observation.r", other.patient()), question(false)).statusCode())
        .isNotIn(401, 403);

    Bundle audit = parse(fhir.get("AuditEvent?entity=" + ids.patient(), token(ADMIN)), Bundle.class);
    assertThat(audit.getEntry()).hasSize(6).allSatisfy(e ->
        assertThat(((AuditEvent) e.getResource()).getSubtype()).anyMatch(c -> "ask".equals(c.getCode())));
  }

  @Test
  void draftReportNeedsImagingStudyReadAndDiagnosticReportCreate() {
    assertThat(operationExists("draft-report")).as("$draft-report is registered").isTrue();
    AiDrafts.Ids ids = seed();
    String path = ids.imagingStudy() + "/$draft-report";
    assertThat(outcome(fhir.post(path, token("user/ImagingStudy.r"), new Parameters()), 403))
        .contains("DiagnosticReport.c");
    assertThat(fhir.post(path, token("user/ImagingStudy.r user/DiagnosticReport.c"), new Parameters()).statusCode())
        .isNotIn(401, 403);
  }

  @Test
  void aiLabelsProvenanceAndDraftStatusCannotBeChangedByPlainWrites() {
    AiDrafts.Ids ids = seed();
    String admin = token(ADMIN);
    DocumentReference draft = parse(fhir.get(ids.document(), admin), DocumentReference.class);

    DocumentReference unlabelled = draft.copy();
    unlabelled.getMeta().getSecurity().clear();
    assertThat(outcome(fhir.put(ids.document(), admin, unlabelled), 422)).contains("AIAST");

    DocumentReference finalised = draft.copy().setDocStatus(DocumentReference.ReferredDocumentStatus.FINAL);
    assertThat(outcome(fhir.put(ids.document(), admin, finalised), 422)).contains(ids.document() + "/$verify");

    Provenance provenance = parse(fhir.get(ids.documentProvenance(), admin), Provenance.class);
    provenance.getAgentFirstRep().getWho().setReference(ids.practitioner());
    outcome(fhir.put(ids.documentProvenance(), admin, provenance), 422);
    outcome(fhir.delete(ids.documentProvenance(), admin), 422);

    DocumentReference stored = parse(fhir.get(ids.document(), admin), DocumentReference.class);
    assertThat(stored.getMeta().getVersionId()).isEqualTo("1");
    assertThat(stored.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));
    assertThat(fhir.get(ids.documentProvenance(), admin).statusCode()).isEqualTo(200);
  }

  @Test
  void callsWithoutATokenCannotFillTheDatabaseWithAuditEvents() {
    AiDrafts.Ids ids = seed();
    int calls = 12;
    for (int i = 0; i < calls; i++) {
      outcome(fhir.post(ids.report() + "/$verify", null, verify("accept")), 401);
    }
    List<AuditEvent> events = parse(fhir.get("AuditEvent?entity=" + ids.report() + "&_count=100", token(ADMIN)),
        Bundle.class).getEntry().stream().map(e -> (AuditEvent) e.getResource()).toList();
    // A budget of 3 a minute (refilled evenly, one every 20 s): the first three, not the other nine.
    assertThat(events.size()).isGreaterThanOrEqualTo(3).isLessThan(calls / 2);
    assertThat(events).allSatisfy(e -> assertThat(e.getOutcomeDesc()).isEqualTo("HTTP 401"));
    // Calls with a token are not limited by it.
    String reader = practitionerToken("user/DiagnosticReport.rs", ids.practitioner());
    for (int i = 0; i < 5; i++) {
      outcome(fhir.post(ids.report() + "/$verify", reader, verify("accept")), 403);
    }
    assertThat(parse(fhir.get("AuditEvent?entity=" + ids.report() + "&outcome=4&_count=100", token(ADMIN)),
        Bundle.class).getEntry()).hasSize(events.size() + 5);
  }

  boolean operationExists(String name) {
    CapabilityStatement cs = parse(fhir.get("metadata", null), CapabilityStatement.class);
    return cs.getRestFirstRep().getResource().stream()
        .flatMap(r -> r.getOperation().stream())
        .anyMatch(o -> name.equals(o.getName()));
  }

  private static TestIssuer startIssuer() {
    try {
      return new TestIssuer();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
