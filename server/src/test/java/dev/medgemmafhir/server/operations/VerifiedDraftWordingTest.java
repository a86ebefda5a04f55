package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Practitioner;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/** Once a clinician accepts a draft, its description and titles stop saying it awaits verification. */
class VerifiedDraftWordingTest extends AiOperationsServer {

  Parameters accept(String practitioner) {
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("decision").setValue(new CodeType("accept"));
    parameters.addParameter().setName("practitioner").setValue(new Reference(practitioner));
    return parameters;
  }

  @Test
  void acceptedSummaryAndReportNoLongerSayNotYetVerified() throws Exception {
    String practitioner = client.create().resource(new Practitioner()).execute().getId().toUnqualifiedVersionless()
        .getValue();
    String model = register("wording", ScriptedEngine.images("wording", 4096, 16,
        request -> "## Findings\nClear.\n\n## Impression\nNormal [C1]."));

    String study = StudyFixtures.create(client, s -> { }).study();
    HttpResponse<String> drafted = post("/" + study + "/$draft-report",
        DraftReportFailureTest.withModel(model, picture("png", 3, 16, 16)));
    assertThat(drafted.statusCode()).as(drafted.body()).isEqualTo(200);
    DiagnosticReport report = parse(drafted, DiagnosticReport.class);
    assertThat(report.getPresentedFormFirstRep().getTitle()).contains("not yet verified");
    String reportId = "DiagnosticReport/" + report.getIdElement().getIdPart();
    HttpResponse<String> verified = post("/" + reportId + "/$verify", accept(practitioner));
    assertThat(verified.statusCode()).as(verified.body()).isEqualTo(200);
    DiagnosticReport accepted = client.read().resource(DiagnosticReport.class).withId(report.getIdElement().getIdPart())
        .execute();
    assertThat(accepted.getPresentedFormFirstRep().getTitle()).doesNotContain("not yet verified")
        .doesNotContain("draft").contains("verified by a clinician").contains("AI-generated");

    String encounter = StudyFixtures.create(client, s -> { }).encounter();
    org.hl7.fhir.r4.model.Observation o = new org.hl7.fhir.r4.model.Observation();
    o.setStatus(org.hl7.fhir.r4.model.Observation.ObservationStatus.FINAL).setEncounter(new Reference(encounter));
    o.getCode().setText("Pulse");
    o.setValue(new org.hl7.fhir.r4.model.Quantity(64));
    client.create().resource(o).execute();
    HttpResponse<String> summary = post("/" + encounter + "/$summarize",
        SummarizeOperationTest.params("model", "valueString", model));
    assertThat(summary.statusCode()).as(summary.body()).isEqualTo(200);
    DocumentReference doc = parse(summary, DocumentReference.class);
    assertThat(doc.getDescription()).contains("not yet verified");
    String docId = "DocumentReference/" + doc.getIdElement().getIdPart();
    verified = post("/" + docId + "/$verify", accept(practitioner));
    assertThat(verified.statusCode()).as(verified.body()).isEqualTo(200);
    DocumentReference acceptedDoc = client.read().resource(DocumentReference.class).withId(doc.getIdElement().getIdPart())
        .execute();
    assertThat(acceptedDoc.getDescription()).doesNotContain("not yet verified").doesNotContain("draft")
        .contains("verified by a clinician");
    assertThat(acceptedDoc.getContentFirstRep().getAttachment().getTitle()).doesNotContain("draft");
  }
}
