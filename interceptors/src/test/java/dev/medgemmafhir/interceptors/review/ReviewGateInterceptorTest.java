package dev.medgemmafhir.interceptors.review;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DiagnosticReport.DiagnosticReportStatus;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.DocumentReference.ReferredDocumentStatus;
import org.hl7.fhir.r4.model.Provenance;
import org.junit.jupiter.api.Test;

class ReviewGateInterceptorTest {

  final ReviewGateInterceptor gate = new ReviewGateInterceptor();

  static DocumentReference document(ReferredDocumentStatus status, boolean ai) {
    DocumentReference doc = new DocumentReference().setDocStatus(status);
    doc.setId("DocumentReference/7");
    if (ai) {
      doc.getMeta().addSecurity(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, null);
    }
    return doc;
  }

  @Test
  void aPlainUpdateCannotMakeAnAiDraftFinalAndIsPointedToVerify() {
    assertThatThrownBy(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, true),
            document(ReferredDocumentStatus.FINAL, true), new SystemRequestDetails()))
        .isInstanceOf(UnprocessableEntityException.class)
        .hasMessageContaining("DocumentReference/7/$verify");

    DiagnosticReport draft = new DiagnosticReport().setStatus(DiagnosticReportStatus.PRELIMINARY);
    draft.setId("DiagnosticReport/9");
    draft.getMeta().addSecurity(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, null);
    DiagnosticReport finalReport = draft.copy().setStatus(DiagnosticReportStatus.FINAL);
    assertThatThrownBy(() -> gate.beforeUpdate(draft, finalReport, null))
        .hasMessageContaining("DiagnosticReport/9/$verify");
  }

  @Test
  void verifyOfThatVeryResourcePassesOthersDoNot() {
    SystemRequestDetails verifying = new SystemRequestDetails();
    verifying.getUserData().put(ReviewGateInterceptor.VERIFYING, "DocumentReference/7");
    assertThatCode(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, true),
        document(ReferredDocumentStatus.FINAL, true), verifying)).doesNotThrowAnyException();

    verifying.getUserData().put(ReviewGateInterceptor.VERIFYING, "DocumentReference/8");
    assertThatThrownBy(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, true),
        document(ReferredDocumentStatus.FINAL, true), verifying)).isInstanceOf(UnprocessableEntityException.class);
  }

  @Test
  void draftsMayBeEditedAndNonAiOrAlreadyFinalDocumentsAreNotGated() {
    assertThatCode(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, true),
        document(ReferredDocumentStatus.PRELIMINARY, true), null)).doesNotThrowAnyException();
    assertThatCode(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, false),
        document(ReferredDocumentStatus.FINAL, false), null)).doesNotThrowAnyException();
  }

  @Test
  void theResultIsJudgedNotOnlyThePreviousVersion() {
    // A human preliminary note turned into an AI-labelled final one in one write.
    assertThatThrownBy(() -> gate.beforeUpdate(document(ReferredDocumentStatus.PRELIMINARY, false),
        document(ReferredDocumentStatus.FINAL, true), new ServletRequestDetails()))
        .isInstanceOf(UnprocessableEntityException.class).hasMessageContaining("$verify");
    // A final human document given the AIAST label ($meta-add or PUT).
    assertThatThrownBy(() -> gate.beforeUpdate(document(ReferredDocumentStatus.FINAL, false),
        document(ReferredDocumentStatus.FINAL, true), null))
        .isInstanceOf(UnprocessableEntityException.class);
  }

  @Test
  void aVerifiedDocumentIsImmutableExceptForLabelsAndVerifyItself() {
    DocumentReference verified = document(ReferredDocumentStatus.FINAL, true);
    verified.addContent().getAttachment().setData("Verified text".getBytes(StandardCharsets.UTF_8));
    DocumentReference replaced = verified.copy();
    replaced.getContentFirstRep().getAttachment().setData("Other text".getBytes(StandardCharsets.UTF_8));
    assertThatThrownBy(() -> gate.beforeUpdate(verified, replaced, null))
        .isInstanceOf(UnprocessableEntityException.class).hasMessageContaining("$verify");
    assertThatThrownBy(() -> gate.beforeUpdate(verified,
        verified.copy().setDocStatus(ReferredDocumentStatus.AMENDED), null))
        .isInstanceOf(UnprocessableEntityException.class);
    assertThatThrownBy(() -> gate.beforeDelete(verified, null))
        .isInstanceOf(UnprocessableEntityException.class).hasMessageContaining("decision=reject");

    DocumentReference tagged = verified.copy();
    tagged.getMeta().addTag("http://example.org/tags", "reviewed", null);
    tagged.getMeta().setVersionId("2");
    assertThatCode(() -> gate.beforeUpdate(verified, tagged, null)).doesNotThrowAnyException();

    SystemRequestDetails verifying = new SystemRequestDetails();
    verifying.getUserData().put(ReviewGateInterceptor.VERIFYING, "DocumentReference/7");
    assertThatCode(() -> gate.beforeUpdate(verified, replaced, verifying)).doesNotThrowAnyException();
  }

  @Test
  void onlyTheServerWritesVerifierProvenances() {
    Provenance forged = new Provenance();
    forged.addAgent().setType(new CodeableConcept(new Coding(
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "verifier", null)));
    assertThatThrownBy(() -> gate.beforeCreate(forged, new ServletRequestDetails()))
        .isInstanceOf(UnprocessableEntityException.class).hasMessageContaining("verifier");
    assertThatThrownBy(() -> gate.beforeUpdate(new Provenance(), forged, new ServletRequestDetails()))
        .isInstanceOf(UnprocessableEntityException.class);
    assertThatCode(() -> gate.beforeCreate(forged, new SystemRequestDetails())).doesNotThrowAnyException();

    Provenance author = new Provenance();
    author.addAgent().setType(new CodeableConcept(new Coding(
        "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", null)));
    assertThatCode(() -> gate.beforeCreate(author, new ServletRequestDetails())).doesNotThrowAnyException();
  }

  @Test
  void anAiResourceCannotBeCreatedFinal() {
    assertThatThrownBy(() -> gate.beforeCreate(document(ReferredDocumentStatus.FINAL, true), null))
        .isInstanceOf(UnprocessableEntityException.class);
    assertThatCode(() -> gate.beforeCreate(document(ReferredDocumentStatus.PRELIMINARY, true), null))
        .doesNotThrowAnyException();
  }
}
