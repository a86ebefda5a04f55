package dev.medgemmafhir.server;

import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;

/** The FHIR contract on the embedded default database (H2, in memory for the test). */
// Spring Boot tests switch metrics export off unless asked; the Prometheus endpoint is under test.
@AutoConfigureObservability
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:h2-contract;DB_CLOSE_DELAY=-1")
class H2FhirServerTest extends FhirServerContract {}
