package dev.medgemmafhir.interceptors.audit;

import dev.medgemmafhir.vocabulary.RequestData;
import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/** The AuditEvent's content; writing it over HTTP is proven in the server's security tests. */
class AuditEventInterceptorTest {

  final AuditEventInterceptor audit = new AuditEventInterceptor(null,
      new UnauthenticatedAuditBudget(10, java.time.Clock.systemUTC()));

  @Test
  void theModelIdSetByTheOperationNamesTheDeviceAuthorOfTheResult() {
    SystemRequestDetails request = new SystemRequestDetails();
    request.getUserData().put(RequestData.MODEL, "medgemma-4b");
    request.getUserData().put(RequestData.MODEL_DEVICE, "urn:medgemma-fhir:model|medgemma-4b-q4-abc");
    DocumentReference result = new DocumentReference().addAuthor(new Reference("Device/5"));
    result.setId("DocumentReference/9/_history/1");

    AuditEvent event = audit.build(request, "$summarize", "Encounter/3", 200, result);

    Reference model = event.getAgent().get(1).getWho();
    assertThat(model.getReference()).isEqualTo("Device/5");
    assertThat(model.getDisplay()).isEqualTo("medgemma-4b");
    assertThat(model.getIdentifier().getValue()).isEqualTo("medgemma-4b-q4-abc");
    assertThat(event.getEntity()).extracting(e -> e.getWhat().getReference())
        .containsExactly("Encounter/3", "DocumentReference/9/_history/1");
    assertThat(event.getSubtype()).anyMatch(c -> "summarize".equals(c.getCode()));
    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._0);
  }

  @Test
  void aFailedRunIsAttributedToTheModelByIdentifierAndMarkedAsAFailure() {
    SystemRequestDetails request = new SystemRequestDetails();
    request.getUserData().put(RequestData.MODEL, "medgemma-4b");
    request.getUserData().put(RequestData.MODEL_DEVICE, "urn:medgemma-fhir:model|medgemma-4b-q4-abc");

    AuditEvent event = audit.build(request, "$summarize", "Encounter/3", 503, null);

    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._8);
    assertThat(event.getOutcomeDesc()).isEqualTo("HTTP 503");
    assertThat(event.getAgent().get(1).getWho().hasReference()).isFalse();
    assertThat(event.getAgent().get(1).getWho().getIdentifier().getSystem()).isEqualTo("urn:medgemma-fhir:model");
    assertThat(event.getAgent().get(0).getRequestor()).isTrue();
  }
}
