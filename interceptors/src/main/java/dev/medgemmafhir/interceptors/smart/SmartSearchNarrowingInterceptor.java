package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizedList;
import ca.uhn.fhir.rest.server.interceptor.auth.SearchNarrowingInterceptor;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.util.ArrayList;
import java.util.List;
import org.hl7.fhir.r4.model.Bundle;

/**
 * Adds the token's patient to every search of a type the token may only search through
 * {@code patient/} scopes ({@code Observation?code=x} becomes {@code Observation?code=x&patient=123}),
 * so a patient app's searches stay inside its compartment instead of being refused, and so that
 * nothing it gets back (not even a count) depends on another patient's data. Conditional URLs are
 * searches too: {@code If-None-Exist} and the criteria of conditional update, patch and delete are
 * narrowed the same way, in transactions and batches as well (HAPI's {@code narrowConditionalUrls}).
 * See {@link SmartPrincipal#searchesNarrowedToPatient}.
 */
@Interceptor
public class SmartSearchNarrowingInterceptor extends SearchNarrowingInterceptor {

  public SmartSearchNarrowingInterceptor() {
    setNarrowConditionalUrls(true);
  }

  /**
   * HAPI's narrowing rewrites every GET entry of a batch or transaction, reads
   * ({@code Observation/123}) included, into a search; reads stay reads here (they are checked
   * as reads, and a read outside the compartment answers 404).
   */
  @Override
  public void hookIncomingRequestPreHandled(
      ServletRequestDetails request, HttpServletRequest servletRequest, HttpServletResponse servletResponse) {
    if (!(request.getResource() instanceof Bundle bundle)) {
      super.hookIncomingRequestPreHandled(request, servletRequest, servletResponse);
      return;
    }
    List<Bundle.BundleEntryComponent> all = new ArrayList<>(bundle.getEntry());
    bundle.getEntry().removeIf(SmartSearchNarrowingInterceptor::isRead);
    try {
      super.hookIncomingRequestPreHandled(request, servletRequest, servletResponse);
    } finally {
      bundle.getEntry().clear();
      bundle.getEntry().addAll(all);
    }
  }

  private static boolean isRead(Bundle.BundleEntryComponent entry) {
    Bundle.BundleEntryRequestComponent r = entry.getRequest();
    if (r.getMethod() != Bundle.HTTPVerb.GET || r.getUrl() == null || r.getUrl().contains("?")) {
      return false;
    }
    String[] parts = r.getUrl().replaceAll("^/+|/+$", "").split("/");
    return parts.length == 2 && !parts[1].startsWith("_") && !parts[1].startsWith("$")
        || parts.length == 4 && parts[2].equals("_history");
  }

  @Override
  protected AuthorizedList buildAuthorizedList(RequestDetails request) {
    SmartPrincipal principal = SmartPrincipal.of(request).orElse(null);
    if (principal == null || !principal.searchesNarrowedToPatient(request.getResourceName())) {
      return null;
    }
    return new AuthorizedList().addCompartment("Patient/" + principal.patient());
  }
}
