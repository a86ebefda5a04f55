package dev.medgemmafhir.server.fhir;

import java.time.Duration;
import java.util.List;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.core.Ordered;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.UrlBasedCorsConfigurationSource;
import org.springframework.web.filter.CorsFilter;

/**
 * CORS for one surface of the server: the web page origins listed in a setting may call it from a
 * browser, any other origin's preflight is a 403, and with an empty list the filter is off (no
 * CORS headers at all, right for server-to-server callers). Credentials are bearer tokens, never
 * cookies, so {@code allowCredentials} stays off, and {@code *} is refused: a listed origin is a
 * decision, not a default.
 */
public final class BrowserOrigins {

  private BrowserOrigins() {}

  /** The setting's origins, stripped, blanks dropped; {@code *} is refused naming the setting. */
  public static List<String> parse(List<String> origins, String setting) {
    List<String> parsed = origins == null ? List.of()
        : origins.stream().map(String::strip).filter(o -> !o.isEmpty()).toList();
    for (String origin : parsed) {
      if (origin.equals("*") || !origin.matches("https?://[^/\\s]+")) {
        throw new IllegalStateException(setting + ": '" + origin + "' is not an origin; list each web app's "
            + "scheme://host[:port] ('*' is not accepted)");
      }
    }
    return parsed;
  }

  /**
   * A CORS filter on {@code paths} (servlet URL patterns, e.g. {@code /fhir/*}) for the given
   * methods; {@code exposedHeaders} are response headers a page's script may read.
   */
  public static FilterRegistrationBean<CorsFilter> filter(List<String> origins, List<String> paths, List<String> methods,
      List<String> exposedHeaders) {
    CorsConfiguration cors = new CorsConfiguration();
    cors.setAllowedOrigins(origins);
    cors.setAllowedMethods(methods);
    cors.setAllowedHeaders(List.of("Authorization", "Content-Type", "Accept", "Prefer", "If-Match",
        "If-None-Exist", "If-None-Match", "If-Modified-Since", "X-Request-Id"));
    cors.setExposedHeaders(exposedHeaders);
    cors.setMaxAge(Duration.ofHours(1));
    // Every path the filter sees: its URL patterns choose the surface. (Spring matches the path
    // within the servlet, "/Patient" for HAPI's /fhir/Patient, so a "/fhir/**" pattern never would.)
    UrlBasedCorsConfigurationSource source = new UrlBasedCorsConfigurationSource();
    source.registerCorsConfiguration("/**", cors);
    FilterRegistrationBean<CorsFilter> registration = new FilterRegistrationBean<>(new CorsFilter(source));
    registration.setUrlPatterns(paths);
    // Before the body guard and the servlet: a preflight carries no token and no body.
    registration.setOrder(Ordered.HIGHEST_PRECEDENCE + 10);
    registration.setEnabled(!origins.isEmpty());
    return registration;
  }
}
