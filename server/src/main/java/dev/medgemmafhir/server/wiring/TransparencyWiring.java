package dev.medgemmafhir.server.wiring;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.validation.JpaValidationSupportChain;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import dev.medgemmafhir.interceptors.review.AiRecordGuard;
import dev.medgemmafhir.operations.transparency.TransparencyRecords;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.io.Resource;
import org.springframework.core.io.support.PathMatchingResourcePatternResolver;

/**
 * AI Transparency on FHIR: whether drafts' prompts are stored, the guard that keeps the prompt
 * and model-card records server-written, and the IG's profiles and code systems in the validator,
 * so that {@code $validate} accepts what the AI operations write.
 */
@Configuration
@EnableConfigurationProperties(TransparencyWiring.TransparencyProperties.class)
public class TransparencyWiring {

  /** Conformance resources this server ships (profiles, code systems, value sets of the IG). */
  static final String CONFORMANCE_RESOURCES = "classpath:fhir/aitransparency/*.json";

  /**
   * {@code medgemma.transparency.*}.
   *
   * @param storePrompts store the exact prompt of each draft as an AIInputPrompt DocumentReference
   */
  @ConfigurationProperties(prefix = "medgemma.transparency")
  public record TransparencyProperties(Boolean storePrompts) {
    public TransparencyProperties {
      storePrompts = storePrompts == null ? TransparencyRecords.STORE_PROMPTS_DEFAULT : storePrompts;
    }
  }

  @Bean
  public TransparencyRecords transparencyRecords(TransparencyProperties properties) {
    return new TransparencyRecords(properties.storePrompts());
  }

  /** On the JPA interceptor service: every write path (REST, transactions, {@code $verify}) passes it. */
  @Bean
  public AiRecordGuard aiRecordGuard(IInterceptorService jpaInterceptors, DaoRegistry daos) {
    AiRecordGuard guard = new AiRecordGuard(id -> {
      try {
        return Optional.of(daos.getResourceDao("Device").read(id, new SystemRequestDetails()));
      } catch (ResourceNotFoundException | ResourceGoneException e) {
        return Optional.empty();
      }
    });
    jpaInterceptors.registerInterceptor(guard);
    return guard;
  }

  /**
   * The IG's resources go first in the validation chain: the FHIR R4 core copy of
   * v3-ObservationValue predates AIAST, so the label would otherwise be an unknown code.
   */
  @Bean
  public PrePopulatedValidationSupport aiTransparencyValidationSupport(JpaValidationSupportChain chain, FhirContext fhir) {
    PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(fhir);
    try {
      for (Resource resource : new PathMatchingResourcePatternResolver().getResources(CONFORMANCE_RESOURCES)) {
        try (InputStream in = resource.getInputStream()) {
          support.addResource(fhir.newJsonParser().parseResource(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + CONFORMANCE_RESOURCES, e);
    }
    chain.addValidationSupport(0, support);
    return support;
  }
}
