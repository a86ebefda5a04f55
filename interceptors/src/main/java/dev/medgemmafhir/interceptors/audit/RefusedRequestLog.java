package dev.medgemmafhir.interceptors.audit;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import dev.medgemmafhir.interceptors.smart.SmartPrincipal;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One log line for each request refused with a 4xx: method, path (resource type, id, operation;
 * never the query), the token's client id and the reason, and no stack trace. The reason is the
 * message when this project's code wrote it or it is an access decision (401/403: rule names and
 * token problems, never values); HAPI's other
 * messages may quote element values of the rejected body, so for those only the exception type
 * and HAPI's message code are logged. Server errors (5xx) are left to HAPI's error log.
 */
@Interceptor
public class RefusedRequestLog {

  private static final Logger LOG = LoggerFactory.getLogger(RefusedRequestLog.class);
  private static final String OWN_PACKAGE = "dev.medgemmafhir.";
  private static final Pattern HAPI_CODE = Pattern.compile("HAPI-\\d+");

  @Hook(Pointcut.SERVER_HANDLE_EXCEPTION)
  public boolean refused(RequestDetails request, BaseServerResponseException exception) {
    int status = exception.getStatusCode();
    if (status >= 400 && status < 500) {
      LOG.info("Refused {} /{} client={} -> {} {}", request.getRequestType(), path(request), client(request), status,
          reason(exception));
    }
    return true;
  }

  private static String path(RequestDetails request) {
    String path = request.getRequestPath();
    return path == null ? "" : path;
  }

  private static String client(RequestDetails request) {
    return SmartPrincipal.of(request)
        .map(p -> p.clientId() != null ? p.clientId() : "sub:" + p.subject())
        .orElse("anonymous");
  }

  static String reason(BaseServerResponseException exception) {
    StackTraceElement[] origin = exception.getStackTrace();
    boolean accessDecision = exception.getStatusCode() == 401 || exception.getStatusCode() == 403;
    if (accessDecision || (origin.length > 0 && origin[0].getClassName().startsWith(OWN_PACKAGE))) {
      return exception.getMessage();
    }
    String message = exception.getMessage() == null ? "" : exception.getMessage();
    StringBuilder reason = new StringBuilder(exception.getClass().getSimpleName());
    Matcher code = HAPI_CODE.matcher(message);
    while (code.find()) {
      reason.append(' ').append(code.group());
    }
    return reason.toString();
  }
}
