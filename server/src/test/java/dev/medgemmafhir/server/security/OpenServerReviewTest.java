package dev.medgemmafhir.server.security;

import static dev.medgemmafhir.server.security.FhirHttp.outcome;
import static dev.medgemmafhir.server.security.FhirHttp.parse;
import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations.DocumentReferenceStatus;
import org.hl7.fhir.r4.model.Meta;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Practitioner;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The quick-start server ({@code medgemma.security.enabled=false}): no token needed, but the
 * clinical safety rules still hold: drafts become final only through {@code $verify} with a
 * {@code practitioner}, AI labels and AI Provenance cannot be lost, every review is audited.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:security-off;DB_CLOSE_DELAY=-1")
class OpenServerReviewTest {

  @LocalServerPort int port;
  FhirHttp fhir;

  @BeforeEach
  void connect() {
    fhir = new FhirHttp(port);
  }

  AiDrafts.Ids seed() {
    HttpResponse<String> response = fhir.post("", null, AiDrafts.transaction());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return AiDrafts.Ids.from(parse(response, Bundle.class));
  }

  static Parameters verify(String decision, String practitioner) {
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("decision").setValue(new CodeType(decision));
    if (practitioner != null) {
      parameters.addParameter().setName("practitioner").setValue(new Reference(practitioner));
    }
    return parameters;
  }

  @Test
  void acceptWithEditedTextMakesTheSummaryFinalKeepsTheLabelAndRecordsTheVerifier() {
    AiDrafts.Ids ids = seed();
    Parameters accept = verify("accept", ids.practitioner());
    accept.addParameter().setName("text").setValue(new StringType("Edited summary."));

    HttpResponse<String> response = fhir.post(ids.document() + "/$verify", null, accept);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);

    DocumentReference stored = parse(fhir.get(ids.document(), null), DocumentReference.class);
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.FINAL);
    assertThat(stored.getStatus()).isEqualTo(DocumentReferenceStatus.CURRENT);
    assertThat(stored.getMeta().getVersionId()).isEqualTo("2");
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8))
        .isEqualTo("Edited summary.");
    assertThat(stored.getContentFirstRep().getAttachment().getContentType()).startsWith("text/markdown");
    assertThat(stored.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));
    assertThat(stored.getAuthenticator().getReference()).isEqualTo(ids.practitioner());

    List<Provenance> provenances = parse(fhir.get("Provenance?target=" + ids.document(), null), Bundle.class)
        .getEntry().stream().map(e -> (Provenance) e.getResource()).toList();
    assertThat(provenances).hasSize(2);
    Provenance review = provenances.stream()
        .filter(p -> "verifier".equals(p.getAgentFirstRep().getType().getCodingFirstRep().getCode()))
        .findFirst().orElseThrow();
    assertThat(review.getAgentFirstRep().getWho().getReference()).isEqualTo(ids.practitioner());
    assertThat(review.getEntityFirstRep().getRole()).isEqualTo(Provenance.ProvenanceEntityRole.REVISION);

    // Reviewed once: accepting again without a correction is a conflict.
    assertThat(outcome(fhir.post(ids.document() + "/$verify", null, verify("accept", ids.practitioner())), 409))
        .contains("amend");
  }

  @Test
  void aVerifiedDocumentChangesOnlyThroughVerifyAmendOrReject() {
    AiDrafts.Ids ids = seed();
    assertThat(fhir.post(ids.document() + "/$verify", null, verify("accept", ids.practitioner())).statusCode())
        .isEqualTo(200);
    DocumentReference verified = parse(fhir.get(ids.document(), null), DocumentReference.class);

    DocumentReference replaced = verified.copy();
    replaced.getContentFirstRep().getAttachment().setData("Replaced text.".getBytes(StandardCharsets.UTF_8));
    assertThat(outcome(fhir.put(ids.document(), null, replaced), 422)).contains(ids.document() + "/$verify");
    outcome(fhir.put(ids.document(), null, verified.copy().setAuthenticator(new Reference(ids.patient()))), 422);
    outcome(fhir.patch(ids.document(), null,
        "[{\"op\":\"replace\",\"path\":\"/docStatus\",\"value\":\"amended\"}]"), 422);
    assertThat(outcome(fhir.delete(ids.document(), null), 422)).contains("decision=reject");
    // Labels are not content: a tag may still be added.
    Parameters metaAdd = new Parameters();
    metaAdd.addParameter().setName("meta").setValue(new Meta().addTag("http://example.org/tags", "seen", null));
    assertThat(fhir.post(ids.document() + "/$meta-add", null, metaAdd).statusCode()).isEqualTo(200);
    assertThat(new String(parse(fhir.get(ids.document(), null), DocumentReference.class)
        .getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8)).isEqualTo("Draft summary.");

    // The correction path: $verify again with the corrected text (amended), or reject (entered-in-error).
    Parameters amend = verify("accept", ids.practitioner());
    amend.addParameter().setName("text").setValue(new StringType("Corrected summary."));
    HttpResponse<String> amended = fhir.post(ids.document() + "/$verify", null, amend);
    assertThat(amended.statusCode()).as(amended.body()).isEqualTo(200);
    DocumentReference stored = parse(fhir.get(ids.document(), null), DocumentReference.class);
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.AMENDED);
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8))
        .isEqualTo("Corrected summary.");
    assertThat(parse(fhir.get("Provenance?target=" + ids.document() + "&agent-type=verifier", null), Bundle.class)
        .getEntry()).hasSize(2);

    assertThat(fhir.post(ids.document() + "/$verify", null, verify("reject", ids.practitioner())).statusCode())
        .isEqualTo(200);
    assertThat(parse(fhir.get(ids.document(), null), DocumentReference.class).getStatus())
        .isEqualTo(DocumentReferenceStatus.ENTEREDINERROR);
    outcome(fhir.post(ids.document() + "/$verify", null, amend), 409);
  }

  @Test
  void noOtherWritePathYieldsAnAiFinalDocumentAndOnlyTheServerWritesVerifierProvenances() {
    AiDrafts.Ids ids = seed();
    // A human preliminary note turned into an AI-labelled final one in one PUT.
    DocumentReference human = new DocumentReference().setStatus(DocumentReferenceStatus.CURRENT)
        .setDocStatus(DocumentReference.ReferredDocumentStatus.PRELIMINARY)
        .setSubject(new Reference(ids.patient()));
    human.addContent().getAttachment().setContentType("text/plain").setData("note".getBytes(StandardCharsets.UTF_8));
    String humanId = created(fhir.post("DocumentReference", null, human));
    DocumentReference sneaky = parse(fhir.get(humanId, null), DocumentReference.class)
        .setDocStatus(DocumentReference.ReferredDocumentStatus.FINAL);
    AiDrafts.label(sneaky);
    assertThat(outcome(fhir.put(humanId, null, sneaky), 422)).contains("$verify");

    // A final human report given the AIAST label with $meta-add.
    DiagnosticReport finalReport = new DiagnosticReport().setStatus(DiagnosticReport.DiagnosticReportStatus.FINAL)
        .setCode(new org.hl7.fhir.r4.model.CodeableConcept().setText("report"))
        .setSubject(new Reference(ids.patient()));
    String reportId = created(fhir.post("DiagnosticReport", null, finalReport));
    Parameters metaAdd = new Parameters();
    Meta aiast = new Meta();
    aiast.addSecurity(AiDrafts.AIAST_SYSTEM, "AIAST", null);
    metaAdd.addParameter().setName("meta").setValue(aiast);
    assertThat(outcome(fhir.post(reportId + "/$meta-add", null, metaAdd), 422)).contains("$verify");
    assertThat(parse(fhir.get(reportId, null), DiagnosticReport.class).getMeta().getSecurity()).isEmpty();

    // A client cannot forge the record of a clinician's review, alone or inside a transaction.
    Provenance forged = new Provenance().addTarget(new Reference(ids.report())).setRecorded(new java.util.Date());
    forged.addAgent().setType(new org.hl7.fhir.r4.model.CodeableConcept(new org.hl7.fhir.r4.model.Coding(
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "verifier", null)))
        .setWho(new Reference(ids.practitioner()));
    assertThat(outcome(fhir.post("Provenance", null, forged), 422)).contains("verifier");
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    tx.addEntry().setResource(forged).getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Provenance");
    outcome(fhir.post("", null, tx), 422);
    assertThat(parse(fhir.get("Provenance?agent-type=verifier", null), Bundle.class).getEntry()).isEmpty();
  }

  private static String created(HttpResponse<String> response) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(201);
    return response.headers().firstValue("Location").orElseThrow()
        .replaceAll(".*/fhir/", "").replaceAll("/_history/.*", "");
  }

  @Test
  void rejectMarksTheReportEnteredInErrorAndTheAuditTrailNamesReviewerModelAndOutcome() {
    AiDrafts.Ids ids = seed();
    Parameters reject = verify("reject", ids.practitioner());
    reject.addParameter().setName("note").setValue(new StringType("Wrong side."));

    HttpResponse<String> response = fhir.post(ids.report() + "/$verify", null, reject);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport stored = parse(fhir.get(ids.report(), null), DiagnosticReport.class);
    assertThat(stored.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.ENTEREDINERROR);
    assertThat(stored.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));

    List<AuditEvent> events = parse(fhir.get("AuditEvent?entity=" + ids.report(), null), Bundle.class)
        .getEntry().stream().map(e -> (AuditEvent) e.getResource()).toList();
    assertThat(events).hasSize(1);
    AuditEvent event = events.get(0);
    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._0);
    assertThat(event.getAction()).isEqualTo(AuditEvent.AuditEventAction.E);
    assertThat(event.getPeriod().getStart()).isBeforeOrEqualTo(event.getPeriod().getEnd());
    assertThat(event.getAgent()).anySatisfy(a -> {
      assertThat(a.getRequestor()).isTrue();
      assertThat(a.getWho().getReference()).isEqualTo(ids.practitioner());
    });
    // The model comes from the report's AI Provenance.
    assertThat(event.getAgent()).anySatisfy(a -> assertThat(a.getWho().getReference()).isEqualTo(ids.device()));
    assertThat(event.getEntity()).anySatisfy(e -> assertThat(e.getDetail())
        .anySatisfy(d -> assertThat(d.getType()).isEqualTo("decision")));
  }

  @Test
  void verifyRefusesMissingOrWrongReviewersBadDecisionsAndResourcesNotWrittenByAi() {
    AiDrafts.Ids ids = seed();
    String path = ids.document() + "/$verify";
    assertThat(outcome(fhir.post(path, null, verify("accept", null)), 400)).contains("practitioner");
    assertThat(outcome(fhir.post(path, null, verify("accept", ids.patient())), 400)).contains("Practitioner");
    assertThat(outcome(fhir.post(path, null, verify("accept", "Practitioner/does-not-exist")), 400))
        .contains("does not exist");
    assertThat(outcome(fhir.post(path, null, verify("maybe", ids.practitioner())), 400)).contains("accept");
    Parameters rejectWithText = verify("reject", ids.practitioner());
    rejectWithText.addParameter().setName("text").setValue(new StringType("x"));
    outcome(fhir.post(path, null, rejectWithText), 400);

    DocumentReference human = new DocumentReference().setStatus(DocumentReferenceStatus.CURRENT)
        .setDocStatus(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    human.addContent().getAttachment().setContentType("text/plain").setData("note".getBytes(StandardCharsets.UTF_8));
    String humanId = fhir.post("DocumentReference", null, human).headers().firstValue("Location").orElseThrow()
        .replaceAll(".*/fhir/", "").replaceAll("/_history/.*", "");
    assertThat(outcome(fhir.post(humanId + "/$verify", null, verify("accept", ids.practitioner())), 422))
        .contains("not AI-written");
    outcome(fhir.post("DocumentReference/does-not-exist/$verify", null, verify("accept", ids.practitioner())), 404);
    // Even a call on an unknown id is audited (the id kept as text: it cannot be referenced).
    assertThat(parse(fhir.get("AuditEvent?outcome=4&_count=200", null), Bundle.class).getEntry())
        .extracting(e -> ((AuditEvent) e.getResource()).getEntityFirstRep().getWhat().getDisplay())
        .contains("DocumentReference/does-not-exist");

    assertThat(parse(fhir.get(ids.document(), null), DocumentReference.class).getMeta().getVersionId()).isEqualTo("1");
  }

  @Test
  void safetyRulesHoldWithoutSecurityIncludingInsideTransactions() {
    AiDrafts.Ids ids = seed();
    DiagnosticReport report = parse(fhir.get(ids.report(), null), DiagnosticReport.class);
    DiagnosticReport finalised = report.copy().setStatus(DiagnosticReport.DiagnosticReportStatus.FINAL);
    assertThat(outcome(fhir.put(ids.report(), null, finalised), 422)).contains("$verify");

    Bundle sneaky = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    sneaky.addEntry().setResource(finalised).getRequest().setMethod(Bundle.HTTPVerb.PUT).setUrl(ids.report());
    outcome(fhir.post("", null, sneaky), 422);

    DiagnosticReport unlabelled = report.copy();
    unlabelled.getMeta().getSecurity().clear();
    outcome(fhir.put(ids.report(), null, unlabelled), 422);
    outcome(fhir.delete(ids.reportProvenance(), null), 422);
    Parameters metaDelete = new Parameters();
    Meta aiast = new Meta();
    aiast.addSecurity(AiDrafts.AIAST_SYSTEM, "AIAST", null);
    metaDelete.addParameter().setName("meta").setValue(aiast);
    outcome(fhir.post(ids.report() + "/$meta-delete", null, metaDelete), 422);
    assertThat(parse(fhir.get(ids.report(), null), DiagnosticReport.class).getMeta().getSecurity())
        .anyMatch(c -> "AIAST".equals(c.getCode()));

    // A draft may still be edited as a draft, and other resources are untouched by the rules.
    DiagnosticReport edited = report.copy().setConclusion("Edited draft impression.");
    assertThat(fhir.put(ids.report(), null, edited).statusCode()).isEqualTo(200);
    Practitioner practitioner = parse(fhir.get(ids.practitioner(), null), Practitioner.class);
    practitioner.getNameFirstRep().setFamily("Renamed");
    assertThat(fhir.put(ids.practitioner(), null, practitioner).statusCode()).isEqualTo(200);
  }

  @Test
  void noSmartConfigurationIsPublishedWhileSecurityIsOff() {
    assertThat(fhir.get(".well-known/smart-configuration", null).statusCode()).isIn(400, 404);
    assertThat(fhir.get("Patient", null).statusCode()).isEqualTo(200);
  }
}
