package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.AuthenticationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every request but the CapabilityStatement needs a valid Bearer access token; otherwise 401
 * with an OperationOutcome and a {@code WWW-Authenticate: Bearer} challenge. The validated
 * {@link SmartPrincipal} is put into the request's user data for the authorization rules.
 */
@Interceptor
public class SmartAuthenticationInterceptor {

  /** Runs before HAPI's search narrowing (order 0), which needs the principal. */
  public static final int ORDER = -100;

  private static final Logger LOG = LoggerFactory.getLogger(SmartAuthenticationInterceptor.class);
  private static final String BEARER = "Bearer ";

  private final AccessTokenValidator validator;

  public SmartAuthenticationInterceptor(AccessTokenValidator validator) {
    this.validator = validator;
  }

  @Hook(value = Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED, order = ORDER)
  public boolean authenticate(RequestDetails request) {
    if (request.getRestOperationType() == RestOperationTypeEnum.METADATA) {
      return true;
    }
    String header = request.getHeader("Authorization");
    if (header == null || header.isBlank()) {
      throw unauthorized("This server requires a SMART access token: send 'Authorization: Bearer <token>'", null);
    }
    if (!header.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw unauthorized("Only Bearer access tokens are accepted", "invalid_request");
    }
    try {
      SmartPrincipal principal = validator.validate(header.substring(BEARER.length()).trim());
      request.getUserData().put(SmartPrincipal.USER_DATA_KEY, principal);
      return true;
    } catch (InvalidTokenException e) {
      // The refusal is logged once, with the reason, by RefusedRequestLog.
      LOG.debug("Rejected an access token on {} {}: {}", request.getRequestType(), request.getRequestPath(), e.getMessage());
      throw unauthorized(e.getMessage(), "invalid_token");
    }
  }

  private static AuthenticationException unauthorized(String message, String error) {
    AuthenticationException e = new AuthenticationException(message);
    e.addResponseHeader("WWW-Authenticate", error == null ? "Bearer" : "Bearer error=\"" + error + "\"");
    return e;
  }
}
