package dev.medgemmafhir.interceptors.smart;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class FhirUserTest {

  static final String BASE = "https://fhir.example/fhir";

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(nullValues = "null", value = {
      "Practitioner/dr1, Practitioner/dr1",
      "https://fhir.example/fhir/Practitioner/dr1, Practitioner/dr1",
      "HTTPS://FHIR.EXAMPLE/fhir/Practitioner/dr1, Practitioner/dr1",
      "https://other.example/fhir/Practitioner/dr1, null",
      "https://fhir.example/other/Practitioner/dr1, null",
      "https://fhir.example/fhir/Practitioner/dr1/_history/2, null",
      "Practitioner/dr1/_history/2, null",
      "urn:uuid:0f2ab0c1-5c0e-4b6e-9bdf-1d1c7a4d0c11, null",
      "dr1, null",
      "'', null",
      "null, null"})
  void onlyThisServersResourcesCount(String claim, String expected) {
    var id = FhirUser.localId(claim, BASE);
    assertThat(id == null ? null : id.getValue()).isEqualTo(expected);
  }
}
