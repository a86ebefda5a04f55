package dev.medgemmafhir.interceptors.smart;

import org.hl7.fhir.r4.model.IdType;

/**
 * The SMART {@code fhirUser} claim names the user's own FHIR resource, relative
 * ({@code Practitioner/123}) or absolute ({@code https://ehr.example/fhir/Practitioner/123}). An
 * absolute URL only names a resource of this server when its base is this server's base: a
 * Practitioner on another server is not the local Practitioner that happens to share its id.
 */
public final class FhirUser {

  private FhirUser() {}

  /**
   * @param claim the token's {@code fhirUser}, may be {@code null}
   * @param serverBase this server's FHIR base URL (e.g. {@code RequestDetails#getFhirServerBase()},
   *     which follows {@code medgemma.fhir.server-address})
   * @return {@code Type/id} of the local resource, or {@code null} when absent, not a resource URL,
   *     or on another server
   */
  public static IdType localId(String claim, String serverBase) {
    if (claim == null || claim.isBlank()) {
      return null;
    }
    IdType id = new IdType(claim.strip());
    if (!id.hasResourceType() || !id.hasIdPart() || id.hasVersionIdPart()) {
      return null;
    }
    if (id.hasBaseUrl() && (serverBase == null || !sameBase(id.getBaseUrl(), serverBase))) {
      return null;
    }
    if (!id.hasBaseUrl() && claim.contains(":")) {
      return null;
    }
    return id.toUnqualifiedVersionless();
  }

  private static boolean sameBase(String a, String b) {
    return trim(a).equalsIgnoreCase(trim(b));
  }

  private static String trim(String base) {
    String s = base.strip();
    while (s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    return s;
  }
}
