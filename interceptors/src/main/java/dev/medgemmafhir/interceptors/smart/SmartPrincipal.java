package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.interceptors.smart.SmartScope.Context;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.IdType;

/**
 * Who a validated access token speaks for. Stored in the request's user data under
 * {@link #USER_DATA_KEY} by {@link SmartAuthenticationInterceptor}.
 *
 * @param subject the token's {@code sub}
 * @param clientId the token's {@code client_id} (or {@code azp}), may be {@code null}
 * @param fhirUser the token's {@code fhirUser} (e.g. {@code Practitioner/123} or an absolute URL), may be {@code null}
 * @param patient the launch context patient id (the {@code patient} claim), may be {@code null}
 * @param scopes the resource scopes granted
 */
public record SmartPrincipal(String subject, String clientId, String fhirUser, String patient, List<SmartScope> scopes) {

  public static final String USER_DATA_KEY = "medgemma.smart.principal";

  public SmartPrincipal {
    scopes = List.copyOf(scopes);
  }

  /** The principal of an authenticated request, if any. */
  public static Optional<SmartPrincipal> of(RequestDetails request) {
    if (request == null) {
      return Optional.empty();
    }
    return Optional.ofNullable((SmartPrincipal) request.getUserData().get(USER_DATA_KEY));
  }

  /** Whether a {@code user/} or {@code system/} scope grants {@code permission} on {@code type}. */
  public boolean grantsWithoutCompartment(String type, char permission) {
    return scopes.stream().anyMatch(s -> s.context() != Context.PATIENT && s.grants(type, permission));
  }

  /** Whether a {@code patient/} scope grants {@code permission} on {@code type} (within {@link #patient()}). */
  public boolean grantsInPatientCompartment(String type, char permission) {
    return patient != null && scopes.stream().anyMatch(s -> s.context() == Context.PATIENT && s.grants(type, permission));
  }

  /** The launch patient as {@code Patient/id}, or {@code null}. */
  public IdType patientId() {
    return patient == null ? null : new IdType("Patient", patient);
  }

  /**
   * Whether this token's searches and conditional URLs on {@code resourceType} are narrowed to its
   * patient's compartment: it has a patient and no {@code user/} or {@code system/} scope lets it
   * search that type. For a request without a type (a transaction or batch), whether that holds
   * for every type, i.e. the token has no {@code user/} or {@code system/} search scope at all.
   */
  public boolean searchesNarrowedToPatient(String resourceType) {
    if (patient == null) {
      return false;
    }
    if (resourceType == null) {
      return scopes.stream().noneMatch(s -> s.context() != Context.PATIENT && s.permissions().indexOf('s') >= 0);
    }
    return !grantsWithoutCompartment(resourceType, 's');
  }

  /**
   * {@code fhirUser} as a relative id ({@code Practitioner/123}) when it names a resource on this
   * server, else {@code null}; see {@link FhirUser#localId}.
   *
   * @param serverBase this server's FHIR base URL as the request sees it
   */
  public IdType fhirUserId(String serverBase) {
    return FhirUser.localId(fhirUser, serverBase);
  }
}
