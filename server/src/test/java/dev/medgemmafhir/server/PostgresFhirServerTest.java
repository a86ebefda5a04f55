package dev.medgemmafhir.server;

import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalManagementPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The FHIR contract on a real PostgreSQL. {@code .ci/run} always provides one through
 * {@code MEDGEMMA_TEST_POSTGRES_URL} (plus {@code _USERNAME}/{@code _PASSWORD}); without it
 * this class is reported as skipped, never silently passed.
 */
@EnabledIfEnvironmentVariable(
    named = "MEDGEMMA_TEST_POSTGRES_URL",
    matches = "jdbc:postgresql:.+",
    disabledReason = "no PostgreSQL configured: set MEDGEMMA_TEST_POSTGRES_URL (CI does)")
// Spring Boot tests switch metrics export off unless asked; the Prometheus endpoint is under test.
@AutoConfigureObservability
// As the Helm chart deploys it: PostgreSQL, and /actuator/* on a management port of its own.
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = "management.server.port=0")
class PostgresFhirServerTest extends FhirServerContract {

  @LocalManagementPort int managementPort;

  @Override
  int actuatorPort() {
    return managementPort;
  }

  @DynamicPropertySource
  static void postgres(DynamicPropertyRegistry registry) {
    registry.add("spring.datasource.url", () -> System.getenv("MEDGEMMA_TEST_POSTGRES_URL"));
    registry.add("spring.datasource.username",
        () -> System.getenv().getOrDefault("MEDGEMMA_TEST_POSTGRES_USERNAME", "postgres"));
    registry.add("spring.datasource.password",
        () -> System.getenv().getOrDefault("MEDGEMMA_TEST_POSTGRES_PASSWORD", ""));
  }
}
