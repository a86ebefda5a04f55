package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizedList;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import dev.medgemmafhir.interceptors.smart.SmartScope.Context;

/**
 * For tokens that only hold {@code patient/} scopes, adds the token's patient to every search
 * ({@code Observation?code=x} becomes {@code Observation?code=x&patient=123}), so a patient app's
 * ordinary searches stay inside its compartment instead of being refused. Tokens with
 * {@code user/} or {@code system/} scopes are not narrowed; the authorization rules still apply.
 */
@Interceptor
public class SmartSearchNarrowingInterceptor extends SearchNarrowingInterceptor {

  @Override
  protected AuthorizedList buildAuthorizedList(RequestDetails request) {
    SmartPrincipal principal = SmartPrincipal.of(request).orElse(null);
    if (principal == null || principal.patient() == null) {
      return null;
    }
    boolean onlyPatientScopes = principal.scopes().stream().allMatch(s -> s.context() == Context.PATIENT);
    if (!onlyPatientScopes) {
      return null;
    }
    return new AuthorizedList().addCompartment("Patient/" + principal.patient());
  }
}
