package dev.medgemmafhir.server;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import dev.medgemmafhir.server.fhir.FhirJpaConfig;
import dev.medgemmafhir.server.fhir.FhirRestfulServerConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;
import org.springframework.boot.context.properties.ConfigurationPropertiesScan;
import org.springframework.context.annotation.Import;

/**
 * The medgemma-fhir server: a HAPI FHIR R4 JPA server at {@code /fhir} plus the MedGemma
 * operations. This class only wires; each concern lives in its own configuration.
 */
@SpringBootApplication(exclude = ThymeleafAutoConfiguration.class)
@ConfigurationPropertiesScan
@Import({
  JpaR4Config.class,
  JpaBatch2Config.class,
  // Batch2 dispatches its work over an in-process message channel; this config provides it.
  SubscriptionChannelConfig.class,
  Batch2JobsConfig.class,
  FhirJpaConfig.class,
  FhirRestfulServerConfig.class
})
public class MedGemmaFhirApplication {

  public static void main(String[] args) {
    SpringApplication.run(MedGemmaFhirApplication.class, args);
  }
}
