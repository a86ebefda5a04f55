package dev.medgemmafhir.server.logging;

import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.turbo.TurboFilter;
import ch.qos.logback.core.spi.FilterReply;
import org.slf4j.LoggerFactory;
import org.slf4j.Marker;
import org.springframework.stereotype.Component;

/**
 * HAPI 8.8's interceptor service logs every exception an interceptor throws at ERROR with its
 * stack trace, before it becomes the response: each 401, 403 and 422 from our rules was about 60
 * lines. This drops exactly those (a {@link BaseServerResponseException} below 500; the refusal is
 * one line from {@code RefusedRequestLog}) and keeps everything else the interceptor service logs,
 * including exceptions it swallows.
 */
@Component
public class RefusalStackTraceFilter extends TurboFilter {

  static final String INTERCEPTOR_SERVICE = "ca.uhn.fhir.interceptor.executor.BaseInterceptorService";

  public RefusalStackTraceFilter() {
    setName("medgemma-refusal-stack-trace");
    if (LoggerFactory.getILoggerFactory() instanceof LoggerContext logback) {
      logback.addTurboFilter(this);
      start();
    }
  }

  @Override
  public FilterReply decide(Marker marker, Logger logger, Level level, String format, Object[] params, Throwable t) {
    if (logger == null || !INTERCEPTOR_SERVICE.equals(logger.getName())) {
      return FilterReply.NEUTRAL;
    }
    Throwable thrown = t;
    if (thrown == null && params != null && params.length > 0 && params[params.length - 1] instanceof Throwable last) {
      thrown = last;
    }
    return thrown instanceof BaseServerResponseException refusal && refusal.getStatusCode() < 500
        ? FilterReply.DENY : FilterReply.NEUTRAL;
  }
}
