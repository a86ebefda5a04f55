package dev.medgemmafhir.interceptors.smart;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.hl7.fhir.r4.model.Bundle.HTTPVerb;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Bundle entries need the letters of the interaction they stand for; the HTTP side is the attack suite's. */
class InteractionScopesTest {

  @ParameterizedTest(name = "{0} {1} (If-None-Exist {2}) needs {3}")
  @CsvSource(nullValues = "null", value = {
      "GET, Observation/1, null, Observation.r",
      "GET, Observation/1/_history/2, null, Observation.r",
      "GET, Observation?code=x, null, Observation.s",
      "GET, Observation, null, Observation.s",
      "GET, Observation/_search?code=x, null, Observation.s",
      "GET, Observation/1/_history, null, Observation.s user only",
      "GET, Observation/_history, null, Observation.s user only",
      "GET, _history, null, *.s user only",
      "POST, Observation, null, Observation.c",
      "POST, Observation, _id=1, Observation.crs",
      "POST, Observation/_search, null, Observation.s",
      "PUT, Observation/1, null, Observation.u",
      "PUT, Observation?_id=1, null, Observation.us",
      "PATCH, Observation/1, null, Observation.ur",
      "PATCH, Observation?_id=1, null, Observation.urs",
      "DELETE, Observation/1, null, Observation.d",
      "DELETE, Observation?_id=1, null, Observation.ds",
      "POST, Encounter/1/$summarize, null, none"})
  void entriesNeedTheLettersOfTheirInteraction(HTTPVerb method, String url, String ifNoneExist, String expected) {
    String actual = InteractionScopes.ofEntry(method, url, ifNoneExist)
        .map(n -> n.resourceType() + "." + n.letters() + (n.patientScopesSuffice() ? "" : " user only"))
        .orElse("none");
    assertThat(actual).isEqualTo(expected);
  }

  @ParameterizedTest(name = "{0} {1}: {2}")
  @CsvSource({
      "patient/Observation.crs, true, allowed",
      "patient/Observation.cs, true, lacks Observation.r",
      "user/Observation.crs, false, allowed",
      // Narrowing is impossible here, so a patient/-only search letter is refused rather than unnarrowed.
      "patient/Observation.crs user/Patient.s, false, cannot be narrowed"})
  void aConditionalCreateSearchesOnlyWhereItCanBeNarrowed(String scopes, boolean narrowed, String expected) {
    SmartPrincipal principal = new SmartPrincipal("u", null, null, "p1", SmartScope.parseAll(List.of(scopes.split(" "))));
    var need = InteractionScopes.ofEntry(HTTPVerb.POST, "Observation", "_id=1").orElseThrow();
    assertThat(InteractionScopes.check(principal, need, narrowed).orElse("allowed")).contains(expected);
  }
}
