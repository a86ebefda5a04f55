package dev.medgemmafhir.server.security;

import static dev.medgemmafhir.server.security.FhirHttp.parse;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.server.review.HeadlessChromium;
import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Provenance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.openqa.selenium.By;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * The review app on the quick-start server ({@code medgemma.security.enabled=false}, the same
 * Spring context as {@link OpenServerReviewTest}): no sign-in, a loud banner saying so, and the
 * reviewer named in the form because there is no token to name them.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:security-off;DB_CLOSE_DELAY=-1")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OpenServerReviewAppTest {

  @LocalServerPort int port;
  HeadlessChromium browser;

  @BeforeAll
  void startTheBrowser() {
    browser = HeadlessChromium.start();
  }

  @AfterAll
  void stop() {
    if (browser != null) {
      browser.close();
    }
  }

  @Test
  void withSecurityOffTheAppSaysSoLoudlyAndTheReviewerIsNamedInTheForm() {
    FhirHttp fhir = new FhirHttp(port);
    HttpResponse<String> seeded = fhir.post("", null, AiDrafts.transaction());
    assertThat(seeded.statusCode()).as(seeded.body()).isEqualTo(200);
    AiDrafts.Ids ids = AiDrafts.Ids.from(parse(seeded, Bundle.class));

    browser.driver.get("http://localhost:" + port + "/review/#/review/" + ids.document());
    browser.waiting().until(d -> !d.findElements(By.id("draft-text")).isEmpty());
    assertThat(browser.driver.findElement(By.id("security-banner")).getText()).contains("SECURITY IS OFF");
    assertThat(browser.driver.findElement(By.id("who")).getText()).isEqualTo("Not signed in");
    assertThat(browser.driver.findElement(By.id("draft-text")).getText()).contains("Draft summary.");
    assertThat(browser.driver.findElement(By.id("model")).getText()).contains("MedGemma 4B IT, ONNX q4");

    browser.driver.findElement(By.id("reviewer")).sendKeys(ids.practitioner());
    browser.driver.findElement(By.id("accept")).click();
    browser.waiting().until(d -> d.findElement(By.id("messages")).getText().contains("Accepted"));

    assertThat(parse(fhir.get(ids.document(), null), DocumentReference.class).getDocStatus())
        .isEqualTo(DocumentReference.ReferredDocumentStatus.FINAL);
    assertThat(parse(fhir.get("Provenance?target=" + ids.document(), null), Bundle.class).getEntry())
        .extracting(e -> (Provenance) e.getResource())
        .anySatisfy(p -> assertThat(p.getAgentFirstRep().getWho().getReference()).isEqualTo(ids.practitioner()));
  }
}
