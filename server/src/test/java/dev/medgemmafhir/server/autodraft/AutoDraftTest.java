package dev.medgemmafhir.server.autodraft;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.server.operations.ScriptedEngine;
import dev.medgemmafhir.server.security.FhirHttp;
import io.micrometer.core.instrument.MeterRegistry;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.List;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.autoconfigure.actuate.observability.AutoConfigureObservability;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * Automatic drafting end to end: an Encounter saved as finished over REST starts one asynchronous
 * discharge {@code $summarize} job through the model's queue; saving it again starts nothing.
 */
@AutoConfigureObservability
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:auto-draft;DB_CLOSE_DELAY=-1",
      "medgemma.auto-draft.enabled=true",
      "medgemma.auto-draft.model=auto",
      "medgemma.async.heartbeat=200ms"
    })
class AutoDraftTest {

  static final String RULE = "encounter-finished-discharge";
  /** A condition whose name makes the scripted model fail. */
  static final String FAILING = "Condition that breaks the model";
  /** Closed, the scripted model holds its only slot until the test opens it. */
  static volatile CountDownLatch gate = new CountDownLatch(0);

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  @Autowired MeterRegistry meters;
  FhirHttp fhir;
  InferenceQueue queue;

  @BeforeEach
  void provideTheModel() {
    fhir = new FhirHttp(port);
    if (!catalog.states().containsKey("auto")) {
      catalog.put("auto", "Scripted model", ScriptedEngine.textOnly("auto", request -> {
        try {
          gate.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        boolean failing = request.messages().stream().flatMap(m -> m.parts().stream())
            .anyMatch(p -> p instanceof dev.medgemmafhir.engine.ContentPart.Text t && t.text().contains(FAILING));
        if (failing) {
          throw new dev.medgemmafhir.engine.EngineException("decoder failed");
        }
        return "Discharged home [C1].";
      }), new InferenceQueue("auto", 1, 4, 10, meters));
    }
    queue = catalog.require("auto").queue();
  }

  @Test
  void finishingAnEncounterOnceProducesOneDraftAndSavingItAgainNone() throws Exception {
    double startedBefore = started();
    Encounter encounter = encounterInProgress();
    assertThat(discharges(encounter)).isZero();

    encounter.setStatus(Encounter.EncounterStatus.FINISHED);
    assertThat(fhir.put(id(encounter), null, encounter).statusCode()).isEqualTo(200);
    await(() -> discharges(encounter) == 1);

    // Saved again, still finished, with an administrative change only: a new version, no new job.
    encounter.addIdentifier().setSystem("urn:test:visit").setValue("v-1");
    assertThat(fhir.put(id(encounter), null, encounter).statusCode()).isEqualTo(200);
    // Jobs start in order: once a later encounter's draft exists, the save above was considered.
    Encounter later = encounterInProgress();
    later.setStatus(Encounter.EncounterStatus.FINISHED);
    assertThat(fhir.put(id(later), null, later).statusCode()).isEqualTo(200);
    await(() -> discharges(later) == 1);

    assertThat(discharges(encounter)).isEqualTo(1);
    assertThat(started() - startedBefore).isEqualTo(2.0);
    String metrics = get("/actuator/prometheus");
    assertThat(metrics).containsPattern(
        "medgemma_auto_draft_total\\{outcome=\"started\",rule=\"" + RULE + "\"\\} \\d+\\.0")
        .contains("medgemma_auto_draft_total{outcome=\"started\",rule=\"imaging-study-available-report\"} 0.0");
  }

  @Test
  void automaticJobsWaitTheirTurnInTheModelsQueue() throws Exception {
    gate = new CountDownLatch(1);
    try {
      Encounter first = encounterInProgress();
      Encounter second = encounterInProgress();
      first.setStatus(Encounter.EncounterStatus.FINISHED);
      second.setStatus(Encounter.EncounterStatus.FINISHED);
      assertThat(fhir.put(id(first), null, first).statusCode()).isEqualTo(200);
      await(() -> queue.running() == 1);
      assertThat(fhir.put(id(second), null, second).statusCode()).isEqualTo(200);
      // The second job waits for the model's only slot instead of running beside the first.
      await(() -> queue.waiting() == 1);
      assertThat(queue.running()).isEqualTo(1);
      assertThat(discharges(first) + discharges(second)).isZero();
    } finally {
      gate.countDown();
    }
    await(() -> queue.running() == 0 && queue.waiting() == 0);
  }

  /** A discharge summary already being drafted (here a client's async job) is not started a second time. */
  @Test
  void finishingAnEncounterWhoseSummaryIsBeingDraftedStartsNoSecondJob() throws Exception {
    gate = new CountDownLatch(1);
    Encounter encounter = encounterInProgress();
    try {
      Parameters discharge = new Parameters();
      discharge.addParameter().setName("style").setValue(new org.hl7.fhir.r4.model.CodeType("discharge"));
      discharge.addParameter().setName("model").setValue(new org.hl7.fhir.r4.model.StringType("auto"));
      HttpResponse<String> kickoff = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
              URI.create("http://localhost:" + port + "/fhir/" + id(encounter) + "/$summarize"))
          .header("Content-Type", "application/fhir+json").header("Prefer", "respond-async")
          .POST(HttpRequest.BodyPublishers.ofString(
              ca.uhn.fhir.context.FhirContext.forR4Cached().newJsonParser().encodeResourceToString(discharge)))
          .build(), HttpResponse.BodyHandlers.ofString());
      assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
      await(() -> queue.running() == 1);
      double runningBefore = outcomes("running");
      double startedBefore = started();

      encounter.setStatus(Encounter.EncounterStatus.FINISHED);
      assertThat(fhir.put(id(encounter), null, encounter).statusCode()).isEqualTo(200);
      await(() -> outcomes("running") == runningBefore + 1);
      assertThat(started()).isEqualTo(startedBefore);
      assertThat(queue.waiting()).as("no second job waits for the model").isZero();
    } finally {
      gate.countDown();
    }
    await(() -> discharges(encounter) == 1);
    await(() -> queue.running() == 0 && queue.waiting() == 0);
    assertThat(discharges(encounter)).isEqualTo(1);
  }

  @Test
  void anAutomaticDraftIsAuditedWithTheRuleAsRequestorTheTargetAndTheOutcome() throws Exception {
    Encounter encounter = encounterInProgress();
    AuditEvent event = finishAndAwaitTheAudit(encounter);
    assertThat(event.getOutcomeDesc()).isEqualTo("HTTP 201");
    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._0);
    assertThat(event.getSubtype()).anySatisfy(c -> assertThat(c.getDisplay()).isEqualTo("$summarize"));
    AuditEvent.AuditEventAgentComponent requestor = event.getAgent().stream()
        .filter(a -> a.getRequestor()).findFirst().orElseThrow();
    assertThat(requestor.getWho().getIdentifier().getSystem()).isEqualTo("urn:medgemma-fhir:auto-draft-rule");
    assertThat(requestor.getWho().getIdentifier().getValue()).isEqualTo(RULE);
    assertThat(event.getEntityFirstRep().getWhat().getReference()).isEqualTo(id(encounter));
    // The draft it wrote is named too.
    String draft = search("DocumentReference?encounter=" + id(encounter) + "&type=http://loinc.org%7C18842-5")
        .getEntryFirstRep().getResource().getIdElement().getIdPart();
    assertThat(event.getEntity()).anySatisfy(e -> assertThat(e.getWhat().getReference())
        .startsWith("DocumentReference/" + draft));
    assertThat(audits(id(encounter))).hasSize(1);
  }

  @Test
  void aFailedAutomaticDraftIsAuditedAsAFailure() throws Exception {
    Encounter encounter = encounterInProgress(FAILING);
    AuditEvent event = finishAndAwaitTheAudit(encounter);
    assertThat(event.getOutcomeDesc()).isEqualTo("HTTP 500");
    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._8);
    assertThat(event.getAgent()).anySatisfy(a -> assertThat(a.getWho().getIdentifier().getValue()).isEqualTo(RULE));
    assertThat(discharges(encounter)).isZero();
  }

  @Test
  void anAutomaticDraftThatCannotStartIsAuditedAsAFailure() throws Exception {
    // An encounter with nothing to summarise: the operation refuses it before any job exists.
    String patient = location(fhir.post("Patient", null, new Patient()));
    Encounter empty = new Encounter().setStatus(Encounter.EncounterStatus.INPROGRESS)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", null))
        .setSubject(new Reference(patient));
    String id = location(fhir.post("Encounter", null, empty));
    Encounter encounter = FhirHttp.parse(fhir.get(id, null), Encounter.class);
    encounter.setStatus(Encounter.EncounterStatus.FINISHED);
    assertThat(fhir.put(id, null, encounter).statusCode()).isEqualTo(200);
    await(() -> !audits(id).isEmpty());

    AuditEvent event = audits(id).get(0);
    assertThat(event.getOutcomeDesc()).matches("HTTP 4\\d\\d");
    assertThat(event.getAgent()).anySatisfy(a -> assertThat(a.getWho().getIdentifier().getValue()).isEqualTo(RULE));
  }

  // ---- helpers ----------------------------------------------------------------------------------

  Encounter encounterInProgress() {
    return encounterInProgress("Pneumonia");
  }

  Encounter encounterInProgress(String conditionName) {
    String patient = location(fhir.post("Patient", null, new Patient()));
    Encounter encounter = new Encounter().setStatus(Encounter.EncounterStatus.INPROGRESS)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", null))
        .setSubject(new Reference(patient));
    String id = location(fhir.post("Encounter", null, encounter));
    Condition condition = new Condition().setSubject(new Reference(patient)).setEncounter(new Reference(id))
        .setCode(new CodeableConcept(new Coding("http://snomed.info/sct", "233604007", conditionName)));
    assertThat(fhir.post("Condition", null, condition).statusCode()).isEqualTo(201);
    return FhirHttp.parse(fhir.get(id, null), Encounter.class);
  }

  static String id(Encounter encounter) {
    return encounter.getIdElement().toUnqualifiedVersionless().getValue();
  }

  static String location(HttpResponse<String> created) {
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    return new IdType(created.headers().firstValue("Location").orElseThrow()).toUnqualifiedVersionless().getValue();
  }

  /** Searched now: without no-cache, HAPI would answer a repeated search from its cache of a minute ago. */
  Bundle search(String query) throws Exception {
    HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(
        "http://localhost:" + port + "/fhir/" + query)).header("Cache-Control", "no-cache").build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return FhirHttp.parse(response, Bundle.class);
  }

  int discharges(Encounter encounter) throws Exception {
    return search("DocumentReference?encounter=" + id(encounter) + "&type=http://loinc.org%7C18842-5").getEntry().size();
  }

  /** Saves the encounter as finished (the rule's trigger) and waits for the AuditEvent its job leaves. */
  AuditEvent finishAndAwaitTheAudit(Encounter encounter) throws Exception {
    encounter.setStatus(Encounter.EncounterStatus.FINISHED);
    assertThat(fhir.put(id(encounter), null, encounter).statusCode()).isEqualTo(200);
    await(() -> !audits(id(encounter)).isEmpty());
    return audits(id(encounter)).get(0);
  }

  /** The AuditEvents naming {@code target}. */
  List<AuditEvent> audits(String target) throws Exception {
    return search("AuditEvent?entity=" + target).getEntry().stream().map(e -> (AuditEvent) e.getResource()).toList();
  }

  double started() {
    return outcomes("started");
  }

  double outcomes(String outcome) {
    var counter = meters.find("medgemma.auto.draft").tag("rule", RULE).tag("outcome", outcome).counter();
    return counter == null ? 0 : counter.count();
  }

  String get(String path) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + path)).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }

  /** Polls: jobs run in the background. Bounded, and no assertion on how long it took. */
  static void await(Probe condition) throws Exception {
    for (int i = 0; i < 600 && !condition.holds(); i++) {
      Thread.sleep(100);
    }
    assertThat(condition.holds()).as("condition reached within the polling bound").isTrue();
  }

  interface Probe {
    boolean holds() throws Exception;
  }
}
