package dev.medgemmafhir.interceptors.smart;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import java.util.List;
import org.hl7.fhir.r4.model.IdType;
import org.junit.jupiter.api.Test;

/** The operation scope policy as rules; the HTTP behaviour is proven end to end in the server. */
class SmartAuthorizationInterceptorTest {

  static SystemRequestDetails summarize(String encounterId, String scopes, String patient) {
    SystemRequestDetails request = new SystemRequestDetails();
    request.setRestOperationType(RestOperationTypeEnum.EXTENDED_OPERATION_INSTANCE);
    request.setResourceName("Encounter");
    request.setOperation("$summarize");
    request.setId(new IdType("Encounter", encounterId));
    request.getUserData().put(SmartPrincipal.USER_DATA_KEY, new SmartPrincipal("u", null, null, patient,
        SmartScope.parseAll(List.of(scopes.split(" ")))));
    return request;
  }

  static List<String> ruleNames(List<IAuthRule> rules) {
    return rules.stream().map(IAuthRule::getName).toList();
  }

  @Test
  void summarizeNeedsEncounterReadAndDocumentReferenceCreate() {
    SmartAuthorizationInterceptor authz = new SmartAuthorizationInterceptor((r, p) -> true);

    assertThat(ruleNames(authz.buildRuleList(summarize("1", "user/Encounter.r user/DocumentReference.c", null))))
        .containsExactly("$summarize per the operation scope policy");
    assertThat(ruleNames(authz.buildRuleList(summarize("1", "user/Encounter.r", null))))
        .anyMatch(n -> n != null && n.contains("lacks DocumentReference.c"));
    assertThat(ruleNames(authz.buildRuleList(summarize("1", "user/Encounter.s user/DocumentReference.c", null))))
        .anyMatch(n -> n != null && n.contains("lacks Encounter.r"));
  }

  @Test
  void patientScopesReachOnlyTheirPatientsEncounters() {
    SmartAuthorizationInterceptor authz = new SmartAuthorizationInterceptor(
        (resource, patient) -> resource.getIdPart().equals("mine") && patient.getIdPart().equals("p1"));
    String scopes = "patient/Encounter.r patient/DocumentReference.c";

    assertThat(ruleNames(authz.buildRuleList(summarize("mine", scopes, "p1"))))
        .containsExactly("$summarize per the operation scope policy");
    assertThat(ruleNames(authz.buildRuleList(summarize("theirs", scopes, "p1"))))
        .anyMatch(n -> n != null && n.contains("not in the compartment"));
    // patient/ scopes without a patient claim grant nothing.
    assertThat(ruleNames(authz.buildRuleList(summarize("mine", scopes, null))))
        .anyMatch(n -> n != null && n.contains("lacks"));
  }

  @Test
  void scopeRulesEndInADenyAll() {
    SystemRequestDetails read = new SystemRequestDetails();
    read.setRestOperationType(RestOperationTypeEnum.READ);
    read.getUserData().put(SmartPrincipal.USER_DATA_KEY, new SmartPrincipal("u", null, null, null,
        SmartScope.parseAll(List.of("user/Observation.rs", "user/Patient.s"))));
    List<String> names = ruleNames(new SmartAuthorizationInterceptor((r, p) -> true).buildRuleList(read));
    // Patient.s grants no read rule for a READ; Observation.rs does.
    assertThat(names).contains("user/Observation.rs").doesNotContain("user/Patient.s");
    assertThat(names.get(names.size() - 1)).isEqualTo("insufficient scope");
  }
}
