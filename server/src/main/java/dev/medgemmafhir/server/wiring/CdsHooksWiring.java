package dev.medgemmafhir.server.wiring;

import dev.medgemmafhir.server.cdshooks.CdsHooksController;
import dev.medgemmafhir.server.cdshooks.CdsServices;
import dev.medgemmafhir.server.cdshooks.EhrJwtVerifier;
import dev.medgemmafhir.server.fhir.BrowserOrigins;
import dev.medgemmafhir.server.fhir.LoopbackFhir;
import java.net.URI;
import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.filter.CorsFilter;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * CDS Hooks 2.0 at {@code /cds-services}, on with {@code medgemma.cds-hooks.enabled=true} (the
 * default). With security on, every service call needs a JWT from a configured trusted issuer.
 */
@Configuration
@ConditionalOnProperty(name = "medgemma.cds-hooks.enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(CdsHooksWiring.CdsHooksProperties.class)
public class CdsHooksWiring {

  /**
   * {@code medgemma.cds-hooks.*}; every property is listed with its default in the README.
   *
   * @param enabled serve {@code /cds-services}
   * @param baseUrl the public URL of {@code /cds-services} (the EHR's JWT {@code aud} is this plus
   *     {@code /{service}}); empty = taken from each request
   * @param reviewUrl the review app that cards link to, absolute or relative to the server
   * @param trustedIssuers the EHRs allowed to call: each {@code issuer} ({@code iss}) with the
   *     {@code jwks-uri} of its signing keys
   * @param model the model id for the discharge summaries the service starts; empty = the
   *     {@code $summarize} default
   * @param allowedOrigins browser origins (scheme://host[:port]) of CDS clients allowed to call
   *     from a web page (CORS); empty = no CORS headers, which is right for EHRs calling
   *     server-to-server
   */
  @ConfigurationProperties("medgemma.cds-hooks")
  public record CdsHooksProperties(Boolean enabled, String baseUrl, String reviewUrl, List<TrustedIssuer> trustedIssuers,
      String model, List<String> allowedOrigins) {
    public CdsHooksProperties {
      allowedOrigins = BrowserOrigins.parse(allowedOrigins, "medgemma.cds-hooks.allowed-origins");
      enabled = enabled == null || enabled;
      baseUrl = baseUrl == null ? "" : baseUrl.strip();
      reviewUrl = reviewUrl == null || reviewUrl.isBlank() ? "/review/" : reviewUrl.strip();
      trustedIssuers = trustedIssuers == null ? List.of() : List.copyOf(trustedIssuers);
      model = model == null ? "" : model.strip();
    }

    /** One EHR. */
    public record TrustedIssuer(String issuer, String jwksUri) {}
  }

  /**
   * CORS for browser-based CDS clients (the CDS Hooks specification expects it of services such
   * clients call): preflights and calls from the listed origins get the CORS headers, any other
   * origin's preflight is a 403. The filter is off when the list is empty.
   */
  @Bean
  public FilterRegistrationBean<CorsFilter> cdsHooksCors(CdsHooksProperties properties) {
    FilterRegistrationBean<CorsFilter> registration = BrowserOrigins.filter(properties.allowedOrigins(),
        List.of("/cds-services", "/cds-services/*"), List.of("GET", "POST", "OPTIONS"), List.of());
    registration.setName("cdsHooksCors");
    return registration;
  }

  @Bean
  public CdsServices cdsServices(LoopbackFhir loopback, SecurityWiring.SecurityProperties security,
      CdsHooksProperties properties) {
    return new CdsServices(loopback, security.enabled(), properties.model());
  }

  @Bean
  public RouterFunction<ServerResponse> cdsHooksRoutes(CdsServices services, CdsHooksProperties properties,
      SecurityWiring.SecurityProperties security) {
    EhrJwtVerifier verifier = null;
    if (security.enabled()) {
      Map<String, URI> issuers = new LinkedHashMap<>();
      for (CdsHooksProperties.TrustedIssuer trusted : properties.trustedIssuers()) {
        if (trusted.issuer() == null || trusted.issuer().isBlank() || trusted.jwksUri() == null
            || trusted.jwksUri().isBlank()) {
          throw new IllegalStateException("medgemma.cds-hooks.trusted-issuers: each entry needs issuer and jwks-uri");
        }
        issuers.put(trusted.issuer().strip(), URI.create(trusted.jwksUri().strip()));
      }
      verifier = new EhrJwtVerifier(issuers, Clock.systemUTC());
    }
    return new CdsHooksController(services, verifier, properties.baseUrl(), properties.reviewUrl()).routes();
  }
}
