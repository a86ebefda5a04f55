package dev.medgemmafhir.server.fhir;

import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.narrative2.NullNarrativeGenerator;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.HardcodedServerAddressStrategy;
import ca.uhn.fhir.rest.server.IncomingRequestAddressStrategy;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.ResponseHighlighterInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.filter.CorsFilter;

/**
 * The FHIR REST endpoint at {@code /fhir}: HAPI's JPA resource providers, the system provider
 * (transaction, history, {@code $everything} and friends) and whatever extra providers and
 * interceptors the other modules contribute as beans.
 */
@Configuration
public class FhirRestfulServerConfig {

  /**
   * Qualifier for beans that are FHIR plain providers (operations such as {@code $summarize}) to
   * register on the server. The modules stay free of Spring wiring: the server's wiring
   * configurations declare their classes as beans with this qualifier.
   */
  public static final String FHIR_PROVIDER = "fhirProvider";

  /** Qualifier for beans that are HAPI interceptors to register on the server. */
  public static final String FHIR_INTERCEPTOR = "fhirInterceptor";

  @Bean
  public RestfulServer fhirRestfulServer(
      IFhirSystemDao<?, ?> systemDao,
      IJpaSystemProvider systemProvider,
      ResourceProviderFactory resourceProviders,
      DatabaseBackedPagingProvider pagingProvider,
      JpaStorageSettings storageSettings,
      ISearchParamRegistry searchParamRegistry,
      IValidationSupport validationSupport,
      FhirServerProperties properties,
      @Qualifier(FHIR_PROVIDER) ObjectProvider<Object> plainProviders,
      @Qualifier(FHIR_INTERCEPTOR) ObjectProvider<Object> interceptors) {
    RestfulServer server = new RestfulServer(systemDao.getContext());
    // HAPI stores references without their version unless told otherwise; a Provenance must
    // name the exact version of every input, a summary the versions it cites, and an $ask answer
    // (Parameters: citation.reference, document) the versions it rests on.
    server.getFhirContext().getParserOptions().setDontStripVersionsFromReferencesAtPaths(
        "Provenance.entity.what", "DocumentReference.context.related", "AuditEvent.entity.what",
        "Parameters.parameter.value", "Parameters.parameter.part.value");
    // Narratives would put clinical text into generated HTML we never show; skip the work.
    server.getFhirContext().setNarrativeGenerator(new NullNarrativeGenerator());
    server.registerProviders(resourceProviders.createProviders());
    server.registerProvider(systemProvider);
    plainProviders.orderedStream().forEach(server::registerProvider);

    JpaCapabilityStatementProvider capabilityStatement =
        new JpaCapabilityStatementProvider(
            server, systemDao, storageSettings, searchParamRegistry, validationSupport);
    capabilityStatement.setImplementationDescription("medgemma-fhir: MedGemma on FHIR R4");
    server.setServerConformanceProvider(capabilityStatement);

    server.setServerName("medgemma-fhir");
    server.setServerVersion(FhirRestfulServerConfig.class.getPackage().getImplementationVersion());
    server.setDefaultResponseEncoding(EncodingEnum.JSON);
    server.setPagingProvider(pagingProvider);
    server.setServerAddressStrategy(
        properties.serverAddress().isEmpty()
            ? new IncomingRequestAddressStrategy()
            : new HardcodedServerAddressStrategy(properties.serverAddress()));
    server.registerInterceptor(new ResponseHighlighterInterceptor());
    interceptors.orderedStream().forEach(server::registerInterceptor);
    return server;
  }

  /** Body size limit and UTF-8 check, before HAPI reads a byte. */
  @Bean
  public FilterRegistrationBean<RequestBodyGuard> fhirRequestBodyGuard(
      FhirServerProperties properties, IFhirSystemDao<?, ?> systemDao) {
    FilterRegistrationBean<RequestBodyGuard> registration = new FilterRegistrationBean<>(
        new RequestBodyGuard(properties.maxRequestSize(), systemDao.getContext()));
    registration.addUrlPatterns("/fhir/*");
    return registration;
  }

  /**
   * CORS for browser-based SMART apps on other origins ({@code medgemma.fhir.cors-allowed-origins};
   * off when empty). Scripts may read the headers FHIR clients need: where a created resource is,
   * its version, and the async pattern's status headers.
   */
  @Bean
  public FilterRegistrationBean<CorsFilter> fhirCors(FhirServerProperties properties) {
    FilterRegistrationBean<CorsFilter> registration = BrowserOrigins.filter(properties.corsAllowedOrigins(),
        List.of("/fhir/*"), List.of("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"),
        List.of("Location", "Content-Location", "ETag", "Last-Modified", "X-Request-Id", "X-Progress", "Retry-After"));
    registration.setName("fhirCors");
    return registration;
  }

  @Bean
  public ServletRegistrationBean<RestfulServer> fhirServlet(RestfulServer server) {
    ServletRegistrationBean<RestfulServer> registration = new ServletRegistrationBean<>(server, "/fhir/*");
    registration.setName("fhir");
    // Initialise at start-up, so the first request does not pay for it and readiness is honest.
    registration.setLoadOnStartup(1);
    return registration;
  }
}
