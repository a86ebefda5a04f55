package dev.medgemmafhir.interceptors.review;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DiagnosticReport.DiagnosticReportStatus;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.DocumentReference.ReferredDocumentStatus;
import org.junit.jupiter.api.Test;

class ReviewGateInterceptorTest {

  final ReviewGateInterceptor gate = new ReviewGateInterceptor();

  static DocumentReference document(ReferredDocumentStatus status, boolean ai) {
    DocumentReference doc = new DocumentReference().setDocStatus(status);
    doc.setId("DocumentReference/7");
    if (ai) {
      doc.getMeta().addSecurity(AiLabels.OBSERVATION_VALUE, AiLabels.AIAST, null);
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
    draft.getMeta().addSecurity(AiLabels.OBSERVATION_VALUE, AiLabels.AIAST, null);
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
    assertThatCode(() -> gate.beforeUpdate(document(ReferredDocumentStatus.FINAL, true),
        document(ReferredDocumentStatus.AMENDED, true), null)).doesNotThrowAnyException();
  }

  @Test
  void anAiResourceCannotBeCreatedFinal() {
    assertThatThrownBy(() -> gate.beforeCreate(document(ReferredDocumentStatus.FINAL, true), null))
        .isInstanceOf(UnprocessableEntityException.class);
    assertThatCode(() -> gate.beforeCreate(document(ReferredDocumentStatus.PRELIMINARY, true), null))
        .doesNotThrowAnyException();
  }
}
