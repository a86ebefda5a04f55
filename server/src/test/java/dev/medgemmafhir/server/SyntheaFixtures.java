package dev.medgemmafhir.server;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import org.hl7.fhir.r4.model.Bundle;

/**
 * The committed Synthea patients (see {@code synthea/README.md} in the test resources),
 * loaded over HTTP the way an integration engine would send them.
 */
public final class SyntheaFixtures {

  /** Organisations, locations and practitioners: the patients reference them conditionally. */
  public static final List<String> REFERENCE_DATA =
      List.of("synthea/hospitalInformation.json", "synthea/practitionerInformation.json");

  public static final List<String> PATIENTS =
      List.of(
          "synthea/patient-ashanti-gutkowski.json",
          "synthea/patient-clinton-nitzsche.json",
          "synthea/patient-britney-ward.json");

  private SyntheaFixtures() {}

  public static Bundle read(FhirContext fhir, String resource) {
    try (InputStream in = SyntheaFixtures.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("missing test fixture " + resource);
      }
      return fhir.newJsonParser().parseResource(Bundle.class, in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Posts the reference data and then one patient bundle; returns the patient's transaction response. */
  public static Bundle loadPatient(IGenericClient client, String patientResource) {
    for (String reference : REFERENCE_DATA) {
      client.transaction().withBundle(read(client.getFhirContext(), reference)).execute();
    }
    return client.transaction().withBundle(read(client.getFhirContext(), patientResource)).execute();
  }
}
