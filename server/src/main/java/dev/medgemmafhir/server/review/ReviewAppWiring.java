package dev.medgemmafhir.server.review;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import dev.medgemmafhir.interceptors.smart.AccessTokenValidator;
import dev.medgemmafhir.interceptors.smart.DaoPatientCompartment;
import dev.medgemmafhir.operations.draftreport.DicomWeb;
import dev.medgemmafhir.server.fhir.FhirServerProperties;
import dev.medgemmafhir.server.wiring.SecurityWiring;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Configuration;
import org.springframework.http.CacheControl;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RequestHeader;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.config.annotation.ViewControllerRegistry;
import org.springframework.web.servlet.config.annotation.WebMvcConfigurer;

/**
 * The clinician review app: static files under {@code classpath:/static/review/}, served at
 * {@code /review/}; {@code /review/config.json}, which tells the app how to reach the FHIR
 * endpoint and which SMART client it is; and the images of AI reports through the server
 * ({@link ReviewImages}).
 */
@Configuration
@EnableConfigurationProperties(ReviewAppWiring.ReviewProperties.class)
public class ReviewAppWiring implements WebMvcConfigurer {

  /**
   * {@code medgemma.review.*}; every property is listed with its default in the README.
   *
   * @param clientId the app's SMART client id (a public client using PKCE) at the issuer
   * @param scope the scopes the app asks for in a standalone launch ({@code launch} is added in
   *     an EHR launch)
   */
  @ConfigurationProperties("medgemma.review")
  public record ReviewProperties(String clientId, String scope) {
    public ReviewProperties {
      clientId = clientId == null || clientId.isBlank() ? "medgemma-review" : clientId.strip();
      scope = scope == null || scope.isBlank()
          ? "openid fhirUser user/*.rs user/DocumentReference.u user/DiagnosticReport.u" : scope.strip();
    }
  }

  @Override
  public void addViewControllers(ViewControllerRegistry registry) {
    registry.addRedirectViewController("/review", "/review/");
    registry.addViewController("/review/").setViewName("forward:/review/index.html");
  }

  @RestController
  static class ConfigEndpoint {

    private final ReviewProperties review;
    private final SecurityWiring.SecurityProperties security;
    private final FhirServerProperties fhir;

    ConfigEndpoint(ReviewProperties review, SecurityWiring.SecurityProperties security, FhirServerProperties fhir) {
      this.review = review;
      this.security = security;
      this.fhir = fhir;
    }

    /** Empty {@code fhirBase}: the app uses {@code /fhir} on its own origin. */
    @GetMapping(value = "/review/config.json", produces = MediaType.APPLICATION_JSON_VALUE)
    ResponseEntity<Map<String, Object>> config() {
      Map<String, Object> config = new LinkedHashMap<>();
      config.put("fhirBase", fhir.serverAddress());
      config.put("securityEnabled", security.enabled());
      config.put("clientId", review.clientId());
      config.put("scope", review.scope());
      return ResponseEntity.ok().cacheControl(CacheControl.noStore()).body(config);
    }
  }

  @RestController
  static class ImagesEndpoint {

    private final ReviewImages images;

    ImagesEndpoint(DaoRegistry daos, DicomWeb dicomWeb, FhirContext fhir, SecurityWiring.SecurityProperties security,
        ObjectProvider<AccessTokenValidator> accessTokens) {
      // With security on, the FHIR endpoint's own validator (and JWK set cache).
      Optional<AccessTokenValidator> tokens = security.enabled()
          ? Optional.of(accessTokens.getObject())
          : Optional.empty();
      images = new ReviewImages(daos, dicomWeb, fhir, tokens, new DaoPatientCompartment(daos, fhir));
    }

    @GetMapping("/review/api/DiagnosticReport/{id:[A-Za-z0-9.-]{1,64}}/images/{index:[0-9]{1,4}}")
    ResponseEntity<byte[]> image(@PathVariable String id, @PathVariable int index,
        @RequestHeader(name = "Authorization", required = false) String authorization) {
      return images.image(id, index, authorization);
    }
  }
}
