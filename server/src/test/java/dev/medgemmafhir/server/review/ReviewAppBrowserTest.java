package dev.medgemmafhir.server.review;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.api.CacheControlDirective;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import ca.uhn.fhir.rest.client.interceptor.BearerTokenAuthInterceptor;
import com.sun.net.httpserver.HttpServer;
import dev.medgemmafhir.interceptors.smart.TestIssuer;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.server.SyntheaFixtures;
import dev.medgemmafhir.server.operations.ScriptedEngine;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.imageio.ImageIO;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Practitioner;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chromium.ChromiumNetworkConditions;
import org.openqa.selenium.interactions.Actions;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The clinician review app in headless Chromium against the real server: SMART security on, a
 * fake authorization server that approves with the grant each test chooses (tokens signed by the
 * security tests' {@link TestIssuer}), Synthea data, drafts written by {@code $summarize} and
 * {@code $draft-report} on scripted models, and a fake PACS for the report's images.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:review-app;DB_CLOSE_DELAY=-1")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ReviewAppBrowserTest {

  static final FhirContext FHIR = FhirContext.forR4Cached();
  static final String CLIENT_ID = "medgemma-review";
  static final String ADMIN = "system/*.cruds";
  static final String CLINICIAN = "openid fhirUser user/*.rs user/DocumentReference.u user/DiagnosticReport.u";
  static final TestIssuer ISSUER = newIssuer();
  static final FakeAuthorizationServer AUTH = newAuthorizationServer();
  static final FakePacs PACS = FakePacs.start();

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
    registry.add("medgemma.security.authorize-endpoint", () -> AUTH.authorizeEndpoint().toString());
    registry.add("medgemma.security.token-endpoint", () -> AUTH.tokenEndpoint().toString());
    registry.add("medgemma.review.client-id", () -> CLIENT_ID);
    // The server calls only the PACS addresses it is configured with (none by default).
    registry.add("medgemma.operations.draft-report.dicomweb.allowed-addresses", PACS::address);
  }

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  IGenericClient admin;
  HeadlessChromium browser;

  String patient;
  String otherPatient;
  String practitioner;
  String observationCited;
  final Map<String, String> drafts = new HashMap<>();
  String otherPatientsDraft;
  String report;

  @BeforeAll
  void startTheBrowserAndSeed() throws Exception {
    // First, so a machine without Chromium fails (or skips) before the slow seeding.
    browser = HeadlessChromium.start();
    FHIR.getRestfulClientFactory().setServerValidationMode(ServerValidationModeEnum.NEVER);
    FHIR.getRestfulClientFactory().setSocketTimeout(120_000);
    admin = FHIR.newRestfulGenericClient(fhirBase());
    admin.registerInterceptor(new BearerTokenAuthInterceptor(ISSUER.token(ADMIN, c -> c.expirationTime(
        new Date(System.currentTimeMillis() + 3_600_000)))));
    AUTH.registerRedirectUri(appUrl());

    catalog.put("review", "Scripted review model", ScriptedEngine.textOnly("review", ReviewAppBrowserTest::summary),
        new InferenceQueue("review", 1, 4, 10, null));
    catalog.put("review-images", "Scripted image model", ScriptedEngine.images("review-images", 4096, 16,
        request -> "## Findings\n\nLungs are clear. No pleural effusion.\n\n## Impression\n\nNo acute cardiopulmonary process."),
        new InferenceQueue("review-images", 1, 4, 10, null));

    Bundle loaded = loadClinicalRecord(SyntheaFixtures.PATIENTS.get(2));
    patient = "Patient/" + new IdType(loaded.getEntryFirstRep().getResponse().getLocation()).getIdPart();
    practitioner = "Practitioner/" + admin.search().forResource(Practitioner.class).count(1).returnBundle(Bundle.class)
        .execute().getEntryFirstRep().getResource().getIdElement().getIdPart();
    String encounter = encounterWithObservations(patient);
    for (String style : List.of("brief", "discharge", "handoff")) {
      drafts.put(style, summarize(encounter, style, null));
    }
    // More than a page of drafts. One per encounter: a newer summary of the same style supersedes the
    // encounter's earlier draft, which then leaves the worklist.
    List<String> others = admin.search().forResource(Encounter.class).where(Encounter.SUBJECT.hasId(patient))
        .count(100).returnBundle(Bundle.class).execute().getEntry().stream()
        .map(e -> "Encounter/" + e.getResource().getIdElement().getIdPart())
        .filter(e -> !e.equals(encounter)).limit(12).toList();
    assertThat(others).as("the Synthea patient has a dozen other encounters").hasSize(12);
    for (String other : others) {
      drafts.put("newest", summarize(other, "brief", null));
    }
    otherPatient = createOtherPatient();
    otherPatientsDraft = summarize(encounterOf(otherPatient), "brief", null);
    report = draftReport(patient);
  }

  @AfterAll
  void stop() {
    if (browser != null) {
      browser.close();
    }
    AUTH.close();
    PACS.close();
    ISSUER.close();
  }

  // ---- the tests ------------------------------------------------------------------------------

  @Test
  void aStandaloneLaunchSignsInWithPkceAndListsTheDraftsNewestFirst() {
    int before = AUTH.authorizations.size();
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));

    Map<String, String> request = AUTH.authorizations.get(before).parameters();
    assertThat(request).containsEntry("client_id", CLIENT_ID).containsEntry("redirect_uri", appUrl())
        .containsEntry("code_challenge_method", "S256").containsEntry("aud", fhirBase()).containsEntry("scope", CLINICIAN)
        .doesNotContainKey("launch");
    assertThat(AUTH.refusals).isEmpty();
    assertThat(text("who")).contains("Signed in as " + practitioner);
    assertThat(browser.driver.findElements(By.id("security-banner")).get(0).isDisplayed()).isFalse();

    List<String> drafting = new ArrayList<>(stillDrafts(patient));
    drafting.addAll(stillDrafts(otherPatient));
    List<String> listed = rows();
    assertThat(listed).hasSizeBetween(10, 12).allSatisfy(row -> assertThat(drafting).contains(row));
    List<String> dates = browser.driver.findElements(By.cssSelector("#worklist tbody td:nth-child(4)")).stream()
        .map(WebElement::getText).toList();
    List<String> newestFirst = new ArrayList<>(dates);
    newestFirst.sort(Collections.reverseOrder());
    assertThat(dates).isEqualTo(newestFirst);
    assertThat(browser.driver.findElements(By.id("next-page"))).hasSize(1);
    browser.screenshot("review-worklist");

    // Filters: by kind, then by patient.
    new org.openqa.selenium.support.ui.Select(browser.driver.findElement(By.id("filter-kind")))
        .selectByValue("DiagnosticReport");
    browser.driver.findElement(By.id("apply-filters")).click();
    browser.waiting().until(d -> d.getCurrentUrl().contains("kind=DiagnosticReport"));
    List<String> reports = stillDrafts(patient).stream().filter(r -> r.startsWith("DiagnosticReport/")).toList();
    assertThat(rows()).isEqualTo(reports);

    browser.driver.get(appUrl() + "#/?patient=" + new IdType(otherPatient).getIdPart());
    browser.waiting().until(d -> rows().equals(List.of(otherPatientsDraft)));

    // By date: nothing was written in the future; everything since 2000.
    browser.driver.get(appUrl() + "#/?since=2999-01-01");
    browser.waiting().until(d -> !d.findElements(By.id("worklist-empty")).isEmpty());
    browser.driver.get(appUrl() + "#/?since=2000-01-01&patient=" + new IdType(otherPatient).getIdPart());
    browser.waiting().until(d -> rows().equals(List.of(otherPatientsDraft)));
  }

  @Test
  void pagesFollowTheBundlesLinks() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    browser.driver.get(appUrl() + "#/?kind=DocumentReference&patient=" + new IdType(patient).getIdPart());
    browser.waiting().until(d -> text("worklist-results").contains("Page 1"));
    List<String> first = rows();
    browser.driver.findElement(By.id("next-page")).click();
    browser.waiting().until(d -> text("worklist-results").contains("Page 2"));
    List<String> second = rows();
    assertThat(browser.driver.findElements(By.id("next-page"))).isEmpty();

    List<String> all = new ArrayList<>(first);
    all.addAll(second);
    List<String> expected = stillDrafts(patient).stream().filter(r -> r.startsWith("DocumentReference/")).toList();
    assertThat(all).doesNotHaveDuplicates().containsExactlyInAnyOrderElementsOf(expected);

    browser.driver.findElement(By.id("previous-page")).click();
    browser.waiting().until(d -> text("worklist-results").contains("Page 1"));
    assertThat(rows()).isEqualTo(first);
  }

  @Test
  void aCitationOpensItsSourceAndAnEditedAcceptIsSignedWithAVerifierProvenance() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    String draft = drafts.get("brief");
    open(draft);

    assertThat(text("ai-banner")).contains("AI-generated draft").contains("Scripted review model")
        .contains("version");
    assertThat(text("left-out")).containsPattern("\\d+ facts given to the model");
    assertThat(text("reviews")).contains("No clinician has reviewed this draft yet");

    // An observation with a measured value (panels carry only components).
    WebElement citation = browser.driver.findElements(By.cssSelector("a.citation")).stream()
        .filter(a -> a.getAttribute("data-reference").startsWith("Observation/"))
        .filter(a -> admin.read().resource(Observation.class).withUrl(a.getAttribute("data-reference")).execute()
            .hasValueQuantity())
        .findFirst().orElseThrow();
    String reference = citation.getAttribute("data-reference");
    citation.click();
    browser.waiting().until(d -> !d.findElements(By.id("source-title")).isEmpty());
    Quantity value = admin.read().resource(Observation.class).withUrl(reference).execute().getValueQuantity();
    String source = text("source");
    assertThat(source).contains("Value").contains("Date")
        .contains(value.getValue().stripTrailingZeros().toPlainString()).contains(value.getUnit());
    assertThat(browser.driver.switchTo().activeElement().getAttribute("id")).isEqualTo("source-heading");

    WebElement conditionCitation = browser.driver.findElements(By.cssSelector("a.citation")).stream()
        .filter(a -> a.getAttribute("data-reference").startsWith("Condition/")).findFirst().orElseThrow();
    org.hl7.fhir.r4.model.Condition condition = admin.read().resource(org.hl7.fhir.r4.model.Condition.class)
        .withUrl(conditionCitation.getAttribute("data-reference")).execute();
    conditionCitation.click();
    browser.waiting().until(d -> text("source-title").startsWith("Condition: "));
    assertThat(text("source")).contains(condition.getCode().hasText() ? condition.getCode().getText()
        : condition.getCode().getCodingFirstRep().getDisplay()).contains("Onset");

    citation.click();
    browser.waiting().until(d -> text("source-title").startsWith("Observation: "));
    browser.screenshot("review-screen");

    browser.driver.findElement(By.cssSelector("#edit summary")).click();
    WebElement textArea = browser.driver.findElement(By.id("edit-text"));
    textArea.sendKeys(Keys.chord(Keys.CONTROL, Keys.END), "\n\nReviewed: agree with the summary.");
    browser.driver.findElement(By.id("review-note")).sendKeys("Checked against the chart.");
    browser.driver.findElement(By.id("accept")).click();
    browser.waiting().until(d -> text("messages").contains("Accepted"));
    assertThat(text("draft-status")).isEqualTo("final");
    assertThat(text("reviews")).contains("clinician review: accept").contains("Checked against the chart.");

    DocumentReference stored = admin.read().resource(DocumentReference.class).withId(new IdType(draft).getIdPart()).execute();
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.FINAL);
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8))
        .endsWith("Reviewed: agree with the summary.");
    assertThat(stored.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));
    assertThat(verifiers(draft)).containsExactly(practitioner);
  }

  @Test
  void aReportIsShownWithTheImagesTheModelSawAndItsEditedConclusionIsSigned() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    int fetches = PACS.rendered.size();
    open(report);
    browser.waiting().until(d -> d.findElements(By.cssSelector("#images img")).size() == 2);
    for (WebElement image : browser.driver.findElements(By.cssSelector("#images img"))) {
      browser.waiting().until(d -> ((Number) browser.script("return arguments[0].naturalWidth", image)).intValue() > 0);
      assertThat(image.getAttribute("alt")).startsWith("Image the model saw: series");
    }
    // The browser asked the server, which asked the PACS.
    assertThat(PACS.rendered.size()).isEqualTo(fetches + 2);
    assertThat(text("draft-conclusion")).isEqualTo("No acute cardiopulmonary process.");
    browser.screenshot("review-report");

    // The image endpoint asks what a FHIR read of the report and its study asks.
    String images = "/review/api/" + report + "/images/";
    assertThat(get(images + "0", null).statusCode()).isEqualTo(401);
    HttpResponse<String> noStudyScope = get(images + "0", ISSUER.token("user/DiagnosticReport.rs"));
    assertThat(noStudyScope.statusCode()).isEqualTo(403);
    assertThat(noStudyScope.body()).contains("ImagingStudy.r");
    assertThat(get(images + "0", ISSUER.token("user/DiagnosticReport.r user/ImagingStudy.r")).headers()
        .firstValue("Content-Type")).hasValue("image/png");
    assertThat(get(images + "2", ISSUER.token("user/*.rs")).statusCode()).isEqualTo(404);

    // A failing PACS is a 502 for the endpoint and a message in place of each image.
    PACS.failing = true;
    try {
      HttpResponse<String> failed = get(images + "1", ISSUER.token("user/*.rs"));
      assertThat(failed.statusCode()).isEqualTo(502);
      assertThat(failed.body()).contains("OperationOutcome").contains("/rendered");
      reload();
      browser.waiting().until(d -> d.findElements(By.cssSelector("#images .error")).size() == 2);
      assertThat(text("images")).contains("could not be shown").contains("502");
    } finally {
      PACS.failing = false;
    }
    reload();

    browser.driver.findElement(By.cssSelector("#edit summary")).click();
    WebElement conclusion = browser.driver.findElement(By.id("edit-conclusion"));
    conclusion.clear();
    conclusion.sendKeys("No acute disease. Old rib fracture.");
    browser.driver.findElement(By.id("accept")).click();
    browser.waiting().until(d -> text("messages").contains("Accepted"));

    DiagnosticReport stored = admin.read().resource(DiagnosticReport.class).withId(new IdType(report).getIdPart()).execute();
    assertThat(stored.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.FINAL);
    assertThat(stored.getConclusion()).isEqualTo("No acute disease. Old rib fracture.");
    assertThat(verifiers(report)).containsExactly(practitioner);
  }

  @Test
  void draftTextIsShownAsTextNeverAsMarkup() {
    DocumentReference hostile = admin.read().resource(DocumentReference.class)
        .withId(new IdType(drafts.get("handoff")).getIdPart()).execute().copy();
    hostile.setId((String) null);
    hostile.getIdentifier().clear();
    hostile.getContentFirstRep().getAttachment().setData(("## Plan <script>window.injected = 1</script>\n\n"
        + "- <img src=x onerror=\"window.injected = 2\"> **bold** [C1]\n\n---\n\n**Sources**\n\n"
        + "- [C1] javascript:alert(1)\n").getBytes(StandardCharsets.UTF_8));
    String id = "DocumentReference/" + admin.create().resource(hostile).execute().getId().getIdPart();

    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    open(id);
    assertThat(text("draft-text")).contains("<script>window.injected = 1</script>").contains("<img src=x");
    assertThat(browser.driver.findElements(By.cssSelector("#draft-text img, #draft-text script, a.citation"))).isEmpty();
    assertThat(browser.driver.findElements(By.cssSelector("#draft-text strong"))).hasSize(1);
    assertThat(browser.script("return window.injected === undefined")).isEqualTo(true);
  }

  @Test
  void aRejectionMarksTheDraftEnteredInError() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    String draft = drafts.get("discharge");
    open(draft);
    browser.driver.findElement(By.id("review-note")).sendKeys("Mixes up two admissions.");
    browser.driver.findElement(By.id("reject")).click();
    browser.waiting().until(d -> text("messages").contains("Rejected"));
    assertThat(text("draft-status")).isEqualTo("entered-in-error");
    assertThat(browser.driver.findElements(By.id("decision"))).isEmpty();

    DocumentReference stored = admin.read().resource(DocumentReference.class).withId(new IdType(draft).getIdPart()).execute();
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.ENTEREDINERROR);
    assertThat(verifiers(draft)).containsExactly(practitioner);
  }

  @Test
  void aTokenWithoutWriteScopeSeesTheRefusal() {
    signIn(new FakeAuthorizationServer.Grant("openid fhirUser user/*.rs", null, practitioner));
    String draft = drafts.get("handoff");
    open(draft);
    browser.driver.findElement(By.id("accept")).click();
    browser.waiting().until(d -> text("messages").contains("403"));
    assertThat(text("messages")).contains("DocumentReference.u");
    assertThat(browser.driver.findElement(By.id("accept")).isEnabled()).isTrue();
    assertThat(admin.read().resource(DocumentReference.class).withId(new IdType(draft).getIdPart()).execute()
        .getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
  }

  @Test
  void aTokenForAnotherPatientSeesNothingOfThisOne() {
    signIn(new FakeAuthorizationServer.Grant("openid fhirUser patient/*.rs patient/DocumentReference.u",
        new IdType(otherPatient).getIdPart(), practitioner));
    assertThat(rows()).containsExactly(otherPatientsDraft);
    assertThat(browser.driver.findElement(By.id("filter-patient")).isEnabled()).isFalse();

    open(drafts.get("handoff"), false);
    // The server answers another patient's resource like a missing one, so the app cannot tell them apart.
    browser.waiting().until(d -> text("messages").contains("Not found (404)"));
    assertThat(text("main")).contains("Draft not available").doesNotContain("Scripted review model");
    assertThat(browser.driver.findElements(By.cssSelector("a.citation"))).isEmpty();

    // Nor its images through the server.
    HttpResponse<String> image = get("/review/api/" + report + "/images/0", browserToken());
    assertThat(image.statusCode()).as(image.body()).isEqualTo(403);
  }

  @Test
  void aDraftChangedMeanwhileIsShownNotOverwritten() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    String draft = drafts.get("handoff");
    open(draft);
    browser.driver.findElement(By.cssSelector("#edit summary")).click();
    browser.driver.findElement(By.id("edit-text")).sendKeys(Keys.chord(Keys.CONTROL, Keys.END), " My edit.");

    DocumentReference changed = admin.read().resource(DocumentReference.class).withId(new IdType(draft).getIdPart()).execute();
    changed.setDescription(changed.getDescription() + " (re-read by the ward)");
    admin.update().resource(changed).execute();

    browser.driver.findElement(By.id("accept")).click();
    browser.waiting().until(d -> text("messages").contains("changed this draft meanwhile"));
    assertThat(browser.driver.findElements(By.id("reload-draft"))).hasSize(1);
    DocumentReference stored = admin.read().resource(DocumentReference.class).withId(new IdType(draft).getIdPart()).execute();
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(stored.getDescription()).endsWith("(re-read by the ward)");
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8))
        .doesNotContain("My edit.");
  }

  @Test
  void anExpiredTokenAndAnUnreachableServerAreMessagesNotABlankPage() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    String expired = ISSUER.token(CLINICIAN, c -> c.claim("fhirUser", practitioner)
        .expirationTime(new Date(System.currentTimeMillis() - 600_000)));
    browser.script("sessionStorage.setItem('medgemma-review.session', JSON.stringify({accessToken: arguments[0], "
        + "expiresAt: Date.now() + 600000}))", expired);
    browser.driver.navigate().refresh();
    browser.waiting().until(d -> text("messages").contains("401"));
    assertThat(text("messages")).contains("expired");
    assertThat(browser.driver.findElements(By.id("sign-in"))).hasSize(1);

    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    open(drafts.get("handoff"));
    browser.driver.setNetworkConditions(offline());
    try {
      browser.driver.findElement(By.id("reject")).click();
      browser.waiting().until(d -> text("messages").contains("cannot be reached"));
    } finally {
      browser.driver.deleteNetworkConditions();
    }
    assertThat(text("main")).contains("Your decision");
  }

  @Test
  void anEhrLaunchPassesTheLaunchContextAndOnlyForThisServer() {
    browser.driver.get(appUrl() + "config.json");
    browser.script("sessionStorage.clear()");
    AUTH.approve(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    int before = AUTH.authorizations.size();
    browser.driver.get(appUrl() + "?iss=" + fhirBase() + "&launch=ehr-context-42");
    browser.waiting().until(d -> !d.findElements(By.cssSelector("#worklist, #worklist-empty")).isEmpty());
    Map<String, String> request = AUTH.authorizations.get(before).parameters();
    assertThat(request).containsEntry("launch", "ehr-context-42").containsEntry("aud", fhirBase());
    assertThat(request.get("scope")).startsWith("launch ");
    assertThat(browser.driver.getCurrentUrl()).doesNotContain("code=");

    browser.driver.get(appUrl() + "?iss=https://evil.example/fhir&launch=x");
    browser.waiting().until(d -> text("messages").contains("another FHIR server"));
    assertThat(AUTH.authorizations).hasSize(before + 1);
  }

  @Test
  void itWorksFromTheKeyboardAndAxeFindsNoSeriousViolations() {
    signIn(new FakeAuthorizationServer.Grant(CLINICIAN, null, practitioner));
    assertThat(browser.seriousAccessibilityViolations()).as("worklist").isEmpty();

    tabUntil("a.open-draft[href$='/" + drafts.get("newest") + "']");
    new Actions(browser.driver).sendKeys(Keys.ENTER).perform();
    browser.waiting().until(d -> !d.findElements(By.id("draft-text")).isEmpty());
    assertThat(browser.seriousAccessibilityViolations()).as("review screen").isEmpty();

    tabUntil("a.citation");
    new Actions(browser.driver).sendKeys(Keys.ENTER).perform();
    browser.waiting().until(d -> !d.findElements(By.id("source-title")).isEmpty());
    assertThat(browser.seriousAccessibilityViolations()).as("review screen with a source").isEmpty();
  }

  // ---- browser steps --------------------------------------------------------------------------

  void signIn(FakeAuthorizationServer.Grant grant) {
    browser.driver.get(appUrl() + "config.json");
    browser.script("sessionStorage.clear()");
    AUTH.approve(grant);
    browser.driver.get(appUrl());
    browser.waiting().until(d -> !d.findElements(By.cssSelector("#worklist, #worklist-empty")).isEmpty()
        || !text("messages").isBlank());
    assertThat(text("messages")).isBlank();
  }

  void open(String draft) {
    open(draft, true);
  }

  void open(String draft, boolean expectDraft) {
    browser.driver.get(appUrl() + "#/review/" + draft);
    browser.waiting().until(d -> !d.findElements(By.id(expectDraft ? "draft-text" : "review-heading")).isEmpty()
        || !text("messages").isBlank());
  }

  /** Loads the page again (the same URL with a fragment would not). */
  void reload() {
    browser.script("document.body.dataset.before = 'reload'");
    browser.driver.navigate().refresh();
    browser.waiting().until(d -> browser.script("return document.body.dataset.before") == null
        && (!d.findElements(By.id("draft-text")).isEmpty() || !text("messages").isBlank()));
  }

  List<String> rows() {
    browser.waiting().until(d -> !d.findElements(By.cssSelector("#worklist, #worklist-empty")).isEmpty());
    return browser.driver.findElements(By.cssSelector("#worklist tbody tr")).stream()
        .map(r -> r.getAttribute("data-id")).toList();
  }

  /** The element's text, or "" while it is absent (or replaced as the page changes). */
  String text(String id) {
    try {
      List<WebElement> found = browser.driver.findElements(By.id(id));
      return found.isEmpty() ? "" : found.get(0).getText();
    } catch (org.openqa.selenium.StaleElementReferenceException e) {
      return "";
    }
  }

  void tabUntil(String css) {
    for (int i = 0; i < 60; i++) {
      new Actions(browser.driver).sendKeys(Keys.TAB).perform();
      Boolean matches = (Boolean) browser.script("return document.activeElement.matches(arguments[0])", css);
      if (Boolean.TRUE.equals(matches)) {
        return;
      }
    }
    throw new AssertionError("Tab never reached " + css);
  }

  String browserToken() {
    return (String) browser.script("return JSON.parse(sessionStorage.getItem('medgemma-review.session')).accessToken");
  }

  static ChromiumNetworkConditions offline() {
    ChromiumNetworkConditions conditions = new ChromiumNetworkConditions();
    conditions.setOffline(true);
    return conditions;
  }

  // ---- server side ----------------------------------------------------------------------------

  String fhirBase() {
    return "http://localhost:" + port + "/fhir";
  }

  String appUrl() {
    return "http://localhost:" + port + "/review/";
  }

  HttpResponse<String> get(String path, String token) {
    try {
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + path));
      if (token != null) {
        request.header("Authorization", "Bearer " + token);
      }
      return HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException | InterruptedException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Preliminary AI DocumentReferences and DiagnosticReports of the patient, as ids. */
  List<String> stillDrafts(String patientRef) {
    List<String> ids = new ArrayList<>();
    for (Class<? extends Resource> type : List.of(DocumentReference.class, DiagnosticReport.class)) {
      admin.search().forResource(type).where(new ca.uhn.fhir.rest.gclient.ReferenceClientParam("subject").hasId(patientRef))
          .withSecurity("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "AIAST")
          // One page holds them all: each draft has an AIAST-labelled input prompt beside it, filtered out below.
          .count(200)
          .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute()
          .getEntry().stream().map(e -> e.getResource())
          .filter(r -> r instanceof DocumentReference d
              ? d.getDocStatus() == DocumentReference.ReferredDocumentStatus.PRELIMINARY
              : ((DiagnosticReport) r).getStatus() == DiagnosticReport.DiagnosticReportStatus.PRELIMINARY)
          .forEach(r -> ids.add(r.fhirType() + "/" + r.getIdElement().getIdPart()));
    }
    return ids;
  }

  /** Practitioners named by verifier agents of the target's Provenances. */
  List<String> verifiers(String target) {
    return admin.search().forResource(Provenance.class).where(Provenance.TARGET.hasId(target))
        .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute()
        .getEntry().stream().map(e -> (Provenance) e.getResource())
        .flatMap(p -> p.getAgent().stream())
        .filter(a -> "verifier".equals(a.getType().getCodingFirstRep().getCode()))
        .map(a -> a.getWho().getReference()).toList();
  }

  String summarize(String encounter, String style, Integer maxTokens) {
    Parameters parameters = new Parameters();
    if (maxTokens != null) {
      parameters.addParameter().setName("maxTokens").setValue(new org.hl7.fhir.r4.model.IntegerType(maxTokens));
    }
    parameters.addParameter().setName("style").setValue(new org.hl7.fhir.r4.model.CodeType(style));
    parameters.addParameter().setName("model").setValue(new StringType("review"));
    DocumentReference doc = (DocumentReference) admin.operation().onInstance(new IdType(encounter)).named("$summarize")
        .withParameters(parameters).returnResourceType(DocumentReference.class).execute();
    return "DocumentReference/" + doc.getIdElement().getIdPart();
  }

  /** The script of the summary model: one bullet per fact it cites, the first and last few facts of the prompt. */
  static String summary(dev.medgemmafhir.engine.GenerationRequest request) {
    List<String[]> facts = new ArrayList<>();
    for (var message : request.messages()) {
      for (var part : message.parts()) {
        if (part instanceof dev.medgemmafhir.engine.ContentPart.Text t) {
          for (String line : t.text().split("\n")) {
            var m = java.util.regex.Pattern.compile("^\\[(C\\d+)\\] (.*)$").matcher(line.strip());
            if (m.matches()) {
              facts.add(new String[] {m.group(1), m.group(2)});
            }
          }
        }
      }
    }
    List<String[]> cited = new ArrayList<>(facts.subList(0, Math.min(4, facts.size())));
    for (String[] fact : facts.subList(Math.max(cited.size(), facts.size() - 4), facts.size())) {
      cited.add(fact);
    }
    // At least one measured observation, wherever the prompt's priorities put them.
    java.util.function.Predicate<String[]> measured = f -> f[1].matches("^Observation .* = -?[0-9].*");
    if (cited.stream().noneMatch(measured)) {
      facts.stream().filter(measured).findFirst().ifPresent(cited::add);
    }
    StringBuilder text = new StringBuilder("## Summary\n\n");
    for (String[] fact : cited) {
      String said = fact[1].length() > 90 ? fact[1].substring(0, 90).strip() + "…" : fact[1];
      text.append("- ").append(said).append(" [").append(fact[0]).append("]\n");
    }
    return text.append("\nPlan: continue current care; **review** the latest results.").toString();
  }

  /**
   * A Synthea patient's clinical record (what a summary reads: encounters, conditions,
   * observations, procedures, medications, notes), leaving out billing and care-plan entries
   * to keep the test fast.
   */
  Bundle loadClinicalRecord(String fixture) {
    for (String reference : SyntheaFixtures.REFERENCE_DATA) {
      admin.transaction().withBundle(SyntheaFixtures.read(FHIR, reference)).execute();
    }
    Bundle bundle = SyntheaFixtures.read(FHIR, fixture);
    java.util.Set<String> kept = java.util.Set.of("Patient", "Encounter", "Condition", "Observation", "Procedure",
        "MedicationRequest", "AllergyIntolerance", "DocumentReference");
    bundle.getEntry().removeIf(e -> !kept.contains(e.getResource().fhirType()));
    return admin.transaction().withBundle(bundle).execute();
  }

  /** The patient's encounter with the most observations (so the summary cites some). */
  String encounterWithObservations(String patientRef) {
    Map<String, Integer> counts = new HashMap<>();
    Bundle observations = admin.search().forResource(Observation.class).where(Observation.SUBJECT.hasId(patientRef))
        .count(500).returnBundle(Bundle.class).execute();
    observations.getEntry().stream().map(e -> (Observation) e.getResource()).filter(Observation::hasEncounter)
        .forEach(o -> counts.merge(o.getEncounter().getReference(), 1, Integer::sum));
    return counts.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
  }

  String createOtherPatient() {
    Patient other = new Patient();
    other.addName().setFamily("Other").addGiven("Olive");
    String id = "Patient/" + admin.create().resource(other).execute().getId().getIdPart();
    Encounter encounter = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"))
        .setSubject(new Reference(id));
    String encounterId = "Encounter/" + admin.create().resource(encounter).execute().getId().getIdPart();
    Observation heartRate = new Observation().setStatus(Observation.ObservationStatus.FINAL)
        .setCode(new CodeableConcept(new Coding("http://loinc.org", "8867-4", "Heart rate")))
        .setSubject(new Reference(id)).setEncounter(new Reference(encounterId));
    heartRate.setValue(new Quantity(72).setUnit("/min"));
    admin.create().resource(heartRate).execute();
    return id;
  }

  String encounterOf(String patientRef) {
    return "Encounter/" + admin.search().forResource(Encounter.class).where(Encounter.SUBJECT.hasId(patientRef))
        .returnBundle(Bundle.class).execute().getEntryFirstRep().getResource().getIdElement().getIdPart();
  }

  /** A chest radiograph of the patient on the fake PACS (two instances), and its AI report. */
  String draftReport(String patientRef) {
    Endpoint endpoint = new Endpoint().setStatus(Endpoint.EndpointStatus.ACTIVE)
        .setConnectionType(new Coding("http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "dicom-wado-rs", null))
        .setAddress(PACS.address());
    endpoint.addPayloadType().setText("DICOM");
    String endpointId = "Endpoint/" + admin.create().resource(endpoint).execute().getId().getIdPart();
    ImagingStudy study = new ImagingStudy().setStatus(ImagingStudy.ImagingStudyStatus.AVAILABLE)
        .setSubject(new Reference(patientRef)).setStarted(new Date()).setDescription("CHEST PA AND LATERAL");
    study.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:1.2.826.0.1.3680043.8.498.1");
    study.addEndpoint(new Reference(endpointId));
    study.addReasonCode().setText("Cough");
    study.addProcedureCode(new CodeableConcept(new Coding("http://loinc.org", "36643-5", "XR Chest 2 Views")));
    var series = study.addSeries().setUid("1.2.826.0.1.3680043.8.498.1.1").setNumber(1)
        .setModality(new Coding("http://dicom.nema.org/resources/ontology/DCM", "CR", null));
    series.getBodySite().setDisplay("Chest");
    for (int i = 1; i <= 2; i++) {
      series.addInstance().setUid("1.2.826.0.1.3680043.8.498.1.1." + i).setNumber(i)
          .setSopClass(new Coding("urn:ietf:rfc:3986", "urn:oid:1.2.840.10008.5.1.4.1.1.1.1", null));
    }
    String studyId = "ImagingStudy/" + admin.create().resource(study).execute().getId().getIdPart();
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("model").setValue(new StringType("review-images"));
    DiagnosticReport drafted = (DiagnosticReport) admin.operation().onInstance(new IdType(studyId)).named("$draft-report")
        .withParameters(parameters).returnResourceType(DiagnosticReport.class).execute();
    return "DiagnosticReport/" + drafted.getIdElement().getIdPart();
  }

  static TestIssuer newIssuer() {
    try {
      return new TestIssuer();
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static FakeAuthorizationServer newAuthorizationServer() {
    try {
      return new FakeAuthorizationServer(ISSUER, CLIENT_ID);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A DICOMweb server that renders every instance as a small PNG and records what it was asked. */
  static final class FakePacs implements AutoCloseable {

    final List<String> rendered = new CopyOnWriteArrayList<>();
    volatile boolean failing;
    private final HttpServer server;

    private FakePacs(HttpServer server) {
      this.server = server;
    }

    static FakePacs start() {
      try {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        FakePacs pacs = new FakePacs(server);
        server.createContext("/dicom-web/", exchange -> {
          String path = exchange.getRequestURI().getPath();
          byte[] body;
          int status;
          if (pacs.failing) {
            body = "PACS unavailable".getBytes(StandardCharsets.UTF_8);
            status = 503;
          } else if (path.endsWith("/rendered")) {
            pacs.rendered.add(path);
            body = picture(path.hashCode());
            status = 200;
            exchange.getResponseHeaders().add("Content-Type", "image/png");
          } else {
            body = "[]".getBytes(StandardCharsets.UTF_8);
            status = 200;
            exchange.getResponseHeaders().add("Content-Type", "application/dicom+json");
          }
          exchange.sendResponseHeaders(status, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
        server.start();
        return pacs;
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }

    String address() {
      return "http://127.0.0.1:" + server.getAddress().getPort() + "/dicom-web";
    }

    /** A chest-film-like grey gradient, different for each seed. */
    static byte[] picture(int seed) {
      int size = 160;
      BufferedImage image = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
      for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
          double dx = (x - size / 2.0) / size;
          double dy = (y - size / 2.0) / size;
          int v = (int) (200 * Math.exp(-6 * (dx * dx + dy * dy)) + Math.abs(seed % 40));
          image.getRaster().setSample(x, y, 0, Math.min(255, v));
        }
      }
      try (ByteArrayOutputStream out = new ByteArrayOutputStream()) {
        ImageIO.write(image, "png", out);
        return out.toByteArray();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void close() {
      server.stop(0);
    }
  }
}
