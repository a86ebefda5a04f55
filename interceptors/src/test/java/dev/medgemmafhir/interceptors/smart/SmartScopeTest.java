package dev.medgemmafhir.interceptors.smart;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.interceptors.smart.SmartScope.Context;
import java.util.List;
import org.junit.jupiter.api.Test;

class SmartScopeTest {

  @Test
  void parsesV2PermissionsAndMapsV1ReadWrite() {
    assertThat(SmartScope.parse("patient/Observation.rs")).contains(new SmartScope(Context.PATIENT, "Observation", "rs"));
    assertThat(SmartScope.parse("system/*.cruds")).contains(new SmartScope(Context.SYSTEM, "*", "cruds"));
    assertThat(SmartScope.parse("user/Encounter.read")).contains(new SmartScope(Context.USER, "Encounter", "rs"));
    assertThat(SmartScope.parse("user/DocumentReference.write")).contains(new SmartScope(Context.USER, "DocumentReference", "cud"));
    assertThat(SmartScope.parse("user/*.*")).contains(new SmartScope(Context.USER, "*", "cruds"));
  }

  @Test
  void ignoresNonResourceScopesGranularScopesAndPermissionsOutOfOrder() {
    assertThat(SmartScope.parseAll(List.of("openid", "fhirUser", "launch/patient", "offline_access",
        "patient/Observation.rs?category=laboratory", "user/Patient.sr", "user/Patient.", "patient/observation.r")))
        .isEmpty();
  }

  @Test
  void grantsOnlyTheNamedTypeAndPermissions() {
    SmartScope scope = SmartScope.parse("user/Encounter.r").orElseThrow();
    assertThat(scope.grants("Encounter", 'r')).isTrue();
    assertThat(scope.grants("Encounter", 's')).isFalse();
    assertThat(scope.grants("Patient", 'r')).isFalse();
    assertThat(SmartScope.parse("user/*.c").orElseThrow().grants("DocumentReference", 'c')).isTrue();
  }
}
