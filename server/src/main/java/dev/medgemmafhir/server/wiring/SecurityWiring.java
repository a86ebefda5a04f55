package dev.medgemmafhir.server.wiring;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import dev.medgemmafhir.interceptors.audit.AuditEventInterceptor;
import dev.medgemmafhir.interceptors.audit.RefusedRequestLog;
import dev.medgemmafhir.interceptors.audit.UnauthenticatedAuditBudget;
import dev.medgemmafhir.interceptors.labels.AiLabelProtectionInterceptor;
import dev.medgemmafhir.interceptors.labels.MetaDeleteGuard;
import dev.medgemmafhir.interceptors.review.ClinicianReviewProvider;
import dev.medgemmafhir.interceptors.review.ReviewGateInterceptor;
import dev.medgemmafhir.interceptors.smart.AccessTokenValidator;
import dev.medgemmafhir.interceptors.smart.DaoPatientCompartment;
import dev.medgemmafhir.interceptors.smart.IssuerMetadata;
import dev.medgemmafhir.interceptors.smart.SmartAuthenticationInterceptor;
import dev.medgemmafhir.interceptors.smart.SmartAuthorizationInterceptor;
import dev.medgemmafhir.interceptors.smart.SmartConfigurationInterceptor;
import dev.medgemmafhir.interceptors.smart.SmartSearchNarrowingInterceptor;
import dev.medgemmafhir.interceptors.smart.SmartSettings;
import dev.medgemmafhir.interceptors.smart.SmartWriteGuard;
import dev.medgemmafhir.server.fhir.FhirRestfulServerConfig;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.hl7.fhir.r4.model.Bundle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

/**
 * Security and clinical safety (module {@code interceptors}): SMART-on-FHIR token checks and
 * scopes (only with {@code medgemma.security.enabled=true}), and, always, AI-label protection,
 * the clinician review gate with {@code $verify}, and the AuditEvent trail.
 */
@Configuration
@EnableConfigurationProperties({SecurityWiring.SecurityProperties.class, SecurityWiring.AuditProperties.class})
public class SecurityWiring {

  private static final Logger LOG = LoggerFactory.getLogger(SecurityWiring.class);

  /**
   * {@code medgemma.security.*}; every property is listed with its default in the README.
   *
   * @param enabled require SMART access tokens on every FHIR request (the Helm chart's default);
   *     {@code false} (the local quick start's default) leaves the server open
   * @param issuer the token issuer; tokens must carry exactly this {@code iss}
   * @param audience the {@code aud} tokens must be issued for (usually the public FHIR base URL)
   * @param jwksUri the issuer's JWK set; empty = discovered from the issuer
   * @param tokenEndpoint published in {@code .well-known/smart-configuration}; empty = discovered
   * @param authorizeEndpoint as {@code tokenEndpoint}, for the authorization endpoint
   * @param capabilities SMART capabilities to publish; empty = this server's defaults
   * @param jwksMinRefreshInterval the shortest time between two JWK set downloads triggered by
   *     tokens naming an unknown key id
   * @param jwksCacheLifetime how long a downloaded JWK set is trusted; a key the issuer removed is
   *     refused at the latest this long after its removal
   */
  @ConfigurationProperties("medgemma.security")
  public record SecurityProperties(
      Boolean enabled,
      String issuer,
      String audience,
      String jwksUri,
      String tokenEndpoint,
      String authorizeEndpoint,
      List<String> capabilities,
      Duration jwksMinRefreshInterval,
      Duration jwksCacheLifetime) {

    public SecurityProperties {
      enabled = enabled != null && enabled;
      jwksMinRefreshInterval = jwksMinRefreshInterval == null ? Duration.ofSeconds(30) : jwksMinRefreshInterval;
      jwksCacheLifetime = jwksCacheLifetime == null ? Duration.ofSeconds(60) : jwksCacheLifetime;
    }

    SmartSettings smart() {
      return new SmartSettings(uri(issuer), audience, uri(jwksUri), uri(tokenEndpoint), uri(authorizeEndpoint),
          capabilities);
    }

    private static URI uri(String value) {
      return value == null || value.isBlank() ? null : URI.create(value.strip());
    }
  }

  /**
   * {@code medgemma.audit.*}.
   *
   * @param unauthenticatedPerMinute AuditEvents per minute for calls refused without a valid token
   *     (401); more such calls are counted and the count is recorded on the next one
   */
  @ConfigurationProperties("medgemma.audit")
  public record AuditProperties(Integer unauthenticatedPerMinute) {

    public AuditProperties {
      unauthenticatedPerMinute = unauthenticatedPerMinute == null ? 10 : unauthenticatedPerMinute;
    }
  }

  @EventListener(ApplicationReadyEvent.class)
  public void warnWhenOpen(ApplicationReadyEvent event) {
    SecurityProperties properties = event.getApplicationContext().getBean(SecurityProperties.class);
    if (!properties.enabled()) {
      LOG.warn("""

          ************************************************************************************
          *  SECURITY IS DISABLED (medgemma.security.enabled=false): the FHIR API at /fhir   *
          *  accepts every request WITHOUT an access token. Use this only on a workstation   *
          *  with synthetic data. Set medgemma.security.enabled=true, issuer and audience    *
          *  before any real patient data reaches this server.                               *
          ************************************************************************************""");
    } else {
      LOG.info("SMART-on-FHIR security enabled: tokens from {} for audience {}", properties.issuer(),
          properties.audience());
    }
  }

  // ---- always on: labels, review, audit -------------------------------------------------------

  /**
   * Label protection and the review gate guard every write, so they hang on the JPA server's
   * global interceptor service (REST requests, transactions and internal DAO calls alike).
   */
  @Bean
  public AiLabelProtectionInterceptor aiLabelProtection(IInterceptorService jpaInterceptors) {
    AiLabelProtectionInterceptor interceptor = new AiLabelProtectionInterceptor();
    jpaInterceptors.registerInterceptor(interceptor);
    return interceptor;
  }

  @Bean
  public ReviewGateInterceptor reviewGate(IInterceptorService jpaInterceptors) {
    ReviewGateInterceptor interceptor = new ReviewGateInterceptor();
    jpaInterceptors.registerInterceptor(interceptor);
    return interceptor;
  }

  /** {@code $meta-delete} changes labels without an update: checked on the REST server. */
  @Bean
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public MetaDeleteGuard metaDeleteGuard() {
    return new MetaDeleteGuard();
  }

  @Bean
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public AuditEventInterceptor auditEvents(DaoRegistry daos, AuditProperties audit) {
    return new AuditEventInterceptor(daos,
        new UnauthenticatedAuditBudget(audit.unauthenticatedPerMinute(), Clock.systemUTC()));
  }

  /** One line per refused request, instead of HAPI's stack traces and messages that quote values. */
  @Bean
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public RefusedRequestLog refusedRequestLog() {
    return new RefusedRequestLog();
  }

  @Bean
  @Qualifier(FhirRestfulServerConfig.FHIR_PROVIDER)
  @SuppressWarnings("unchecked")
  public ClinicianReviewProvider clinicianReview(
      DaoRegistry daos, IFhirSystemDao<?, ?> systemDao, SecurityProperties properties) {
    return new ClinicianReviewProvider(daos, (IFhirSystemDao<Bundle, ?>) systemDao, properties.enabled());
  }

  // ---- SMART-on-FHIR, with medgemma.security.enabled=true -------------------------------------

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  public SmartSettings smartSettings(SecurityProperties properties) {
    return properties.smart();
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  public IssuerMetadata issuerMetadata(SmartSettings settings) {
    return new IssuerMetadata(settings);
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public SmartConfigurationInterceptor smartConfiguration(SmartSettings settings, IssuerMetadata issuer) {
    return new SmartConfigurationInterceptor(settings, issuer);
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public SmartAuthenticationInterceptor smartAuthentication(AccessTokenValidator accessTokens) {
    return new SmartAuthenticationInterceptor(accessTokens);
  }

  /** One validator (and one JWK set cache) for every surface that takes access tokens: /fhir, /mcp, /review. */
  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  public AccessTokenValidator accessTokenValidator(
      SmartSettings settings, IssuerMetadata issuer, SecurityProperties properties) {
    return new AccessTokenValidator(settings, issuer, properties.jwksMinRefreshInterval(), properties.jwksCacheLifetime());
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public SmartSearchNarrowingInterceptor smartSearchNarrowing() {
    return new SmartSearchNarrowingInterceptor();
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public SmartAuthorizationInterceptor smartAuthorization(DaoPatientCompartment compartment) {
    return new SmartAuthorizationInterceptor(compartment);
  }

  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  public DaoPatientCompartment patientCompartment(DaoRegistry daos, FhirContext fhirContext) {
    return new DaoPatientCompartment(daos, fhirContext);
  }

  /** Creation needs {@code c}; patient-scoped writes stay in their patient's record. */
  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  @Qualifier(FhirRestfulServerConfig.FHIR_INTERCEPTOR)
  public SmartWriteGuard smartWriteGuard(DaoPatientCompartment compartment) {
    return new SmartWriteGuard(compartment);
  }
}
