package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.server.SyntheaFixtures;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code $summarize} end to end over HTTP with the real engine on a forged tiny model and a
 * Synthea patient. The model's text is noise; what is asserted is the FHIR around it.
 */
class SummarizeOperationTest extends AiOperationsServer {

  String encounterId;
  String patientId;
  int observationsOfEncounter;

  @BeforeAll
  void loadPatient() {
    Bundle response = SyntheaFixtures.loadPatient(client, SyntheaFixtures.PATIENTS.get(2));
    patientId = new IdType(response.getEntryFirstRep().getResponse().getLocation()).getIdPart();
    // The encounter with the most recorded observations: a context that must be cut to fit.
    Bundle encounters = client.search().forResource(Encounter.class)
        .where(Encounter.PATIENT.hasId(patientId)).count(200).returnBundle(Bundle.class).execute();
    int best = -1;
    for (Bundle.BundleEntryComponent e : encounters.getEntry()) {
      String id = e.getResource().getIdElement().getIdPart();
      int count = client.search().forResource(org.hl7.fhir.r4.model.Observation.class)
          .where(org.hl7.fhir.r4.model.Observation.ENCOUNTER.hasId("Encounter/" + id))
          .summaryMode(ca.uhn.fhir.rest.api.SummaryEnum.COUNT).returnBundle(Bundle.class).execute().getTotal();
      if (count > best) {
        best = count;
        encounterId = id;
      }
    }
    observationsOfEncounter = best;
  }

  static Parameters params(String... nameTypeValue) {
    StringBuilder json = new StringBuilder("{\"resourceType\":\"Parameters\",\"parameter\":[");
    for (int i = 0; i < nameTypeValue.length; i += 3) {
      if (i > 0) {
        json.append(',');
      }
      String value = nameTypeValue[i + 1].equals("valueInteger") || nameTypeValue[i + 1].equals("valueBoolean")
          ? nameTypeValue[i + 2] : "\"" + nameTypeValue[i + 2] + "\"";
      json.append("{\"name\":\"").append(nameTypeValue[i]).append("\",\"").append(nameTypeValue[i + 1])
          .append("\":").append(value).append('}');
    }
    return FHIR.newJsonParser().parseResource(Parameters.class, json.append("]}").toString());
  }

  @Test
  void writesALabelledPreliminaryDocumentReferenceWithProvenanceAndReturnsTheSameDraftOnRetry() throws Exception {
    HttpResponse<String> response = post("/Encounter/" + encounterId + "/$summarize", params("style", "valueCode", "discharge"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference doc = parse(response, DocumentReference.class);

    assertThat(doc.getIdElement().getIdPart()).isNotBlank();
    assertThat(doc.getMeta().getSecurity()).anySatisfy(c -> {
      assertThat(c.getSystem()).isEqualTo(AiVocabulary.OBSERVATION_VALUE);
      assertThat(c.getCode()).isEqualTo("AIAST");
    });
    assertThat(doc.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(doc.getType().getCodingFirstRep().getCode()).isEqualTo("18842-5");
    assertThat(doc.getSubject().getReference()).isEqualTo("Patient/" + patientId);
    assertThat(doc.getContext().getEncounterFirstRep().getReference()).isEqualTo("Encounter/" + encounterId);
    assertThat(doc.getContentFirstRep().getAttachment().getContentType()).isEqualTo("text/markdown; charset=utf-8");
    assertThat(doc.getContentFirstRep().getAttachment().getData()).isNotEmpty();

    // The author is the model's Device, created with the AI device type.
    String deviceRef = doc.getAuthorFirstRep().getReference();
    assertThat(deviceRef).startsWith("Device/");
    Device device = client.read().resource(Device.class).withId(new IdType(deviceRef).getIdPart()).execute();
    assertThat(device.getType().getCodingFirstRep().getCode()).isEqualTo("Artificial-Intelligence");
    assertThat(device.getIdentifierFirstRep().getSystem()).isEqualTo(AiVocabulary.DEVICE_IDENTIFIER_SYSTEM);
    assertThat(device.getVersionFirstRep().getValue()).contains("sha256:");

    // The context was cut to the tiny model's 1024 tokens, and the cut is reported.
    Extension summary = doc.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION);
    int included = ((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("factsIncluded").getValue()).getValue();
    int omitted = ((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("factsOmitted").getValue()).getValue();
    assertThat(included).isPositive();
    assertThat(omitted).isPositive();
    // Every observation of the encounter was considered, not just a first page of search results.
    assertThat(observationsOfEncounter).as("fixture encounter has more observations than a search page")
        .isGreaterThan(20);
    assertThat(included + omitted).isGreaterThanOrEqualTo(observationsOfEncounter + 2);
    assertThat(summary.getExtensionsByUrl("omitted")).isNotEmpty();

    // One AI Provenance: target the draft, author the Device, every input as a versioned reference.
    Bundle provenances = client.search().forResource(Provenance.class)
        .where(Provenance.TARGET.hasId("DocumentReference/" + doc.getIdElement().getIdPart()))
        .returnBundle(Bundle.class).execute();
    assertThat(provenances.getEntry()).hasSize(1);
    Provenance provenance = (Provenance) provenances.getEntryFirstRep().getResource();
    assertThat(provenance.getMeta().getProfile()).extracting(p -> p.getValue())
        .contains(AiVocabulary.AI_PROVENANCE_PROFILE);
    assertThat(provenance.getAgentFirstRep().getWho().getReference()).isEqualTo(deviceRef);
    assertThat(provenance.getAgentFirstRep().getType().getCodingFirstRep().getCode()).isEqualTo("author");
    // Every fact the model saw (the encounter and the patient are facts too), once each, as a source;
    // the model card and the prompt are the two derivation entities (AI Transparency on FHIR).
    java.util.List<Provenance.ProvenanceEntityComponent> sources = provenance.getEntity().stream()
        .filter(e -> e.getRole() == Provenance.ProvenanceEntityRole.SOURCE).toList();
    assertThat(sources).hasSize(included);
    assertThat(provenance.getEntity()).hasSize(included + 2);
    assertThat(sources).allSatisfy(e -> assertThat(e.getWhat().getReference()).contains("/_history/"));
    assertThat(sources).extracting(e -> e.getWhat().getReference())
        .anyMatch(r -> r.startsWith("Encounter/" + encounterId + "/_history/"));
    // The searches clinicians' apps use find it.
    Bundle byAgent = client.search().forResource(Provenance.class)
        .where(Provenance.AGENT.hasId(deviceRef)).returnBundle(Bundle.class).execute();
    assertThat(byAgent.getEntry()).isNotEmpty();
    Bundle labelled = client.search().forResource(DocumentReference.class)
        .withSecurity(AiVocabulary.OBSERVATION_VALUE, "AIAST").returnBundle(Bundle.class).execute();
    assertThat(labelled.getEntry()).extracting(e -> e.getResource().getIdElement().getIdPart())
        .contains(doc.getIdElement().getIdPart());

    // Retrying over unchanged inputs returns the same draft and writes nothing new.
    int docs = count(DocumentReference.class);
    int provs = count(Provenance.class);
    int devices = count(Device.class);
    HttpResponse<String> retry = post("/Encounter/" + encounterId + "/$summarize", params("style", "valueCode", "discharge"));
    assertThat(retry.statusCode()).isEqualTo(200);
    assertThat(parse(retry, DocumentReference.class).getIdElement().getIdPart()).isEqualTo(doc.getIdElement().getIdPart());
    assertThat(count(DocumentReference.class)).isEqualTo(docs);
    assertThat(count(Provenance.class)).isEqualTo(provs);

    // Another style is another draft by the same Device (created once).
    HttpResponse<String> brief = post("/Encounter/" + encounterId + "/$summarize", params("style", "valueCode", "brief"));
    assertThat(brief.statusCode()).isEqualTo(200);
    DocumentReference briefDoc = parse(brief, DocumentReference.class);
    assertThat(briefDoc.getIdElement().getIdPart()).isNotEqualTo(doc.getIdElement().getIdPart());
    assertThat(briefDoc.getType().getCodingFirstRep().getCode()).isEqualTo("34133-9");
    assertThat(briefDoc.getAuthorFirstRep().getReference()).isEqualTo(deviceRef);
    assertThat(count(Device.class)).isEqualTo(devices);
  }

  @Test
  void persistFalseReturnsTheDraftAndWritesNothing() throws Exception {
    int docs = count(DocumentReference.class);
    int provs = count(Provenance.class);
    HttpResponse<String> response = post("/Encounter/" + encounterId + "/$summarize",
        params("persist", "valueBoolean", "false", "style", "valueCode", "handoff", "maxTokens", "valueInteger", "5"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference doc = parse(response, DocumentReference.class);
    assertThat(doc.hasId()).isFalse();
    // A handoff is its own kind of document, not a brief summary.
    assertThat(doc.getType().getCodingFirstRep().getCode()).isEqualTo("18761-7");
    assertThat(doc.getContentFirstRep().getAttachment().getTitle()).startsWith("Transfer summary note");
    assertThat(doc.getAuthorFirstRep().getIdentifier().getSystem()).isEqualTo(AiVocabulary.DEVICE_IDENTIFIER_SYSTEM);
    Extension summary = doc.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION);
    assertThat(((org.hl7.fhir.r4.model.IntegerType) summary.getExtensionByUrl("generatedTokens").getValue()).getValue())
        .isBetween(1, 5);
    assertThat(count(DocumentReference.class)).isEqualTo(docs);
    assertThat(count(Provenance.class)).isEqualTo(provs);
  }

  @Test
  void badRequestsAreOperationOutcomesWithTheRightStatus() throws Exception {
    assertOutcome(post("/Encounter/" + encounterId + "/$summarize", params("style", "valueCode", "poem")), 400, "style");
    assertOutcome(post("/Encounter/" + encounterId + "/$summarize", params("model", "valueString", "nope")), 400, "nope");
    assertOutcome(post("/Encounter/" + encounterId + "/$summarize", params("maxTokens", "valueInteger", "0")), 400, "maxTokens");
    assertOutcome(post("/Encounter/does-not-exist/$summarize", params()), 404, "does-not-exist");
    // GET is refused: the operation writes.
    HttpResponse<String> viaGet = http.send(HttpRequest.newBuilder(
        URI.create(base() + "/Encounter/" + encounterId + "/$summarize")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(viaGet.statusCode()).isIn(400, 405);
    // An encounter with nothing recorded: 422.
    Encounter empty = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED);
    String emptyId = client.create().resource(empty).execute().getId().getIdPart();
    assertOutcome(post("/Encounter/" + emptyId + "/$summarize", params()), 422, "nothing to summarize");
  }

  @Test
  void asyncKickOffPollsToABatchResponseWithTheDraft() throws Exception {
    HttpResponse<String> kickoff = post("/Encounter/" + encounterId + "/$summarize",
        params("style", "valueCode", "handoff", "maxTokens", "valueInteger", "7"), "Prefer", "respond-async");
    assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
    String status = kickoff.headers().firstValue("Content-Location").orElseThrow();
    assertThat(status).startsWith(base() + "/$async-status?_jobId=");

    HttpResponse<String> poll = null;
    for (int i = 0; i < 600; i++) {
      poll = http.send(HttpRequest.newBuilder(URI.create(status)).build(), HttpResponse.BodyHandlers.ofString());
      if (poll.statusCode() != 202) {
        break;
      }
      assertThat(poll.headers().firstValue("X-Progress")).isPresent();
      Thread.sleep(100);
    }
    assertThat(poll.statusCode()).as(poll.body()).isEqualTo(200);
    Bundle result = parse(poll, Bundle.class);
    assertThat(result.getType()).isEqualTo(Bundle.BundleType.BATCHRESPONSE);
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("201");
    DocumentReference doc = (DocumentReference) result.getEntryFirstRep().getResource();
    assertThat(result.getEntryFirstRep().getResponse().getLocation())
        .startsWith("DocumentReference/" + doc.getIdElement().getIdPart());
    assertThat(client.read().resource(DocumentReference.class).withId(doc.getIdElement().getIdPart()).execute()
        .getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);

    // DELETE of an ended job forgets it without claiming a cancellation: the draft stays. Later polls are 404.
    HttpResponse<String> delete = http.send(HttpRequest.newBuilder(URI.create(status)).DELETE().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(delete.statusCode()).isEqualTo(202);
    assertThat(parse(delete, org.hl7.fhir.r4.model.OperationOutcome.class).getIssueFirstRep().getDiagnostics())
        .contains("had already ended (completed) and was not cancelled")
        .contains("DocumentReference/" + doc.getIdElement().getIdPart() + ", which it wrote, stays a draft")
        .doesNotContainPattern("^Job \\S+ cancelled");
    assertThat(client.read().resource(DocumentReference.class).withId(doc.getIdElement().getIdPart()).execute()
        .getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(http.send(HttpRequest.newBuilder(URI.create(status)).build(), HttpResponse.BodyHandlers.ofString())
        .statusCode()).isEqualTo(404);
  }

  @Test
  void asyncFailureIsReportedInTheBatchResponse() throws Exception {
    HttpResponse<String> unknown = http.send(HttpRequest.newBuilder(URI.create(base() + "/$async-status?_jobId=nope"))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertThat(unknown.statusCode()).isEqualTo(404);
  }

  @Test
  void aFullQueueAnswers429WithRetryAfterAndTheMetricsShowTheWork() throws Exception {
    // A model that holds its only slot until released, with no waiting room.
    java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
    java.util.concurrent.CountDownLatch generating = new java.util.concurrent.CountDownLatch(1);
    ScriptedEngine slow = ScriptedEngine.textOnly("slow", request -> {
      generating.countDown();
      try {
        release.await(60, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return "Stable [C1].";
    });
    catalog.put("slow", "Slow scripted model", slow,
        new dev.medgemmafhir.operations.queue.InferenceQueue("slow", 1, 0, 9, meters));
    Parameters first = params("model", "valueString", "slow", "persist", "valueBoolean", "false");
    java.util.concurrent.CompletableFuture<HttpResponse<String>> running = java.util.concurrent.CompletableFuture
        .supplyAsync(() -> {
          try {
            return post("/Encounter/" + encounterId + "/$summarize", first);
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        });
    assertThat(generating.await(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();

    HttpResponse<String> rejected = post("/Encounter/" + encounterId + "/$summarize", first);
    assertOutcome(rejected, 429, "queue", "respond-async");
    assertThat(rejected.headers().firstValue("Retry-After")).contains("9");
    String during = get("/actuator/prometheus").body();
    assertThat(during).contains("medgemma_inference_running{model=\"slow\"} 1.0");

    release.countDown();
    assertThat(running.get(60, java.util.concurrent.TimeUnit.SECONDS).statusCode()).isEqualTo(200);
    String after = get("/actuator/prometheus").body();
    assertThat(after).contains("medgemma_inference_running{model=\"slow\"} 0.0")
        .contains("medgemma_inference_queue_depth{model=\"slow\"} 0.0")
        .containsPattern("medgemma_generation_duration_seconds_count\\{model=\"slow\",operation=\"summarize\"\\} 1")
        .contains("medgemma_generation_tokens_total{model=\"slow\",operation=\"summarize\"}");
  }

  @Test
  void operationDefinitionIsListedInTheCapabilityStatement() throws Exception {
    HttpResponse<String> metadata = get("/fhir/metadata");
    assertThat(metadata.body()).contains("summarize");
    org.hl7.fhir.r4.model.CapabilityStatement cs = parse(metadata, org.hl7.fhir.r4.model.CapabilityStatement.class);
    var encounter = cs.getRestFirstRep().getResource().stream().filter(r -> r.getType().equals("Encounter")).findFirst().orElseThrow();
    assertThat(encounter.getOperation()).extracting(o -> o.getName()).contains("summarize");
    String definition = encounter.getOperation().stream().filter(o -> o.getName().equals("summarize"))
        .findFirst().orElseThrow().getDefinition();
    HttpResponse<String> opDef = get("/fhir/OperationDefinition/" + definition.substring(definition.lastIndexOf('/') + 1));
    org.hl7.fhir.r4.model.OperationDefinition od = parse(opDef, org.hl7.fhir.r4.model.OperationDefinition.class);
    assertThat(od.getParameter()).extracting(p -> p.getName())
        .contains("style", "persist", "maxTokens", "model", "return");
    assertThat(od.getParameter()).filteredOn(p -> p.getName().equals("return")).first()
        .satisfies(p -> assertThat(p.getType()).isEqualTo("DocumentReference"));
    assertThat(od.getParameter()).filteredOn(p -> !p.getName().equals("return"))
        .allSatisfy(p -> assertThat(p.getDocumentation()).isNotBlank());
  }

}
