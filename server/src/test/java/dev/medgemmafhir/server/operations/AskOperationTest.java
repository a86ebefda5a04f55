package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * {@code $ask} end to end over HTTP: a question about a patient, an encounter or nothing in
 * particular, answered with citations that point at the facts the model was shown.
 */
class AskOperationTest extends AiOperationsServer {

  static final String CONDITION_SYSTEM = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

  @Autowired IInterceptorService interceptors;
  String patient;
  String encounter;
  String hba1c;

  @BeforeAll
  void aRecord() {
    patient = client.create().resource(new Patient().setGender(Enumerations.AdministrativeGender.FEMALE)
        .setBirthDateElement(new org.hl7.fhir.r4.model.DateType("1960-04-02"))).execute().getId()
        .toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setCode("AMB");
    e.getPeriod().setStartElement(new DateTimeType("2024-03-01T09:00:00Z")).setEndElement(new DateTimeType("2024-03-01T10:00:00Z"));
    encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    hba1c = observe("Hemoglobin A1c/Hemoglobin.total in Blood", 7.1, "%", "2024-03-01T09:30:00Z");
    for (int i = 0; i < 12; i++) {
      observe("Body weight", 80 + i, "kg", "2023-0" + (1 + i % 9) + "-01T09:00:00Z");
    }
    condition("Diabetes mellitus type 2", "active", "confirmed");
    condition("Appendicitis", "active", "entered-in-error");
    condition("Asthma", "active", "refuted");
    condition("Acute bronchitis", "resolved", "confirmed");
  }

  String observe(String what, double value, String unit, String when) {
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter)).setEffective(new DateTimeType(when));
    o.getCode().setText(what);
    o.setValue(new Quantity(value).setUnit(unit));
    return client.create().resource(o).execute().getId().toUnqualifiedVersionless().getValue();
  }

  void condition(String what, String clinical, String verification) {
    Condition c = new Condition().setSubject(new Reference(patient))
        .setClinicalStatus(new CodeableConcept().addCoding(new Coding(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", clinical, null)))
        .setVerificationStatus(new CodeableConcept().addCoding(new Coding(CONDITION_SYSTEM, verification, null)));
    c.getCode().setText(what);
    c.setOnset(new DateTimeType("2020-01-01"));
    client.create().resource(c).execute();
  }

  static Parameters ask(String question, Object... more) {
    Parameters parameters = new Parameters();
    parameters.addParameter("question", new StringType(question));
    for (int i = 0; i < more.length; i += 2) {
      parameters.addParameter().setName((String) more[i]).setValue((org.hl7.fhir.r4.model.Type) more[i + 1]);
    }
    return parameters;
  }

  /** Cites the key of the first fact line of the prompt that contains {@code text}, and one key the prompt never gave out. */
  static ScriptedEngine citing(String name, String text) {
    return ScriptedEngine.textOnly(name, request -> {
      String prompt = request.messages().get(request.messages().size() - 1).parts().toString();
      Matcher key = Pattern.compile("\\[(C\\d+)\\] [^\\n]*" + Pattern.quote(text)).matcher(prompt);
      return key.find() ? "Her last HbA1c was 7.1 % [" + key.group(1) + "], not rising [C999]." : "No key found.";
    });
  }

  static List<Parameters.ParametersParameterComponent> citations(Parameters answer) {
    return answer.getParameter().stream().filter(p -> p.getName().equals("citation")).toList();
  }

  static int summary(Parameters answer, String part) {
    return answer.getParameter("ai-input-summary").getPart().stream().filter(p -> p.getName().equals(part))
        .map(p -> Integer.parseInt(p.getValue().primitiveValue())).findFirst().orElseThrow();
  }

  @Test
  void aQuestionAboutAPatientIsAnsweredWithCitationsOfTheFactsItCameFromAndWritesNothing() throws Exception {
    ScriptedEngine engine = citing("ask-patient", "Hemoglobin A1c");
    String model = register("ask-patient", engine);
    Map<String, Integer> before = written();

    HttpResponse<String> response = post("/" + patient + "/$ask",
        ask("When was her last HbA1c, and is it rising?", "model", new StringType(model)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters answer = parse(response, Parameters.class);
    assertThat(answer.getMeta().getSecurity()).anyMatch(c -> AiVocabulary.AIAST.equals(c.getCode())
        && AiVocabulary.OBSERVATION_VALUE.equals(c.getSystem()));
    assertThat(answer.getParameter("answer").getValue().primitiveValue()).contains("7.1 %").doesNotContain("C999");
    assertThat(citations(answer)).singleElement().satisfies(c -> {
      assertThat(((Reference) c.getPart().get(1).getValue()).getReference()).isEqualTo(hba1c + "/_history/1");
      assertThat(c.getPart().get(2).getValue().primitiveValue()).contains("Hemoglobin A1c", "7.1 %");
    });
    assertThat(summary(answer, "unknownCitations")).isEqualTo(1);
    // Entered in error and refuted are left out; a resolved problem is kept and says so.
    assertThat(summary(answer, "factsLeftOut")).isEqualTo(2);
    String prompt = engine.lastPromptText();
    assertThat(prompt).doesNotContain("Appendicitis").doesNotContain("Asthma").contains("resolved")
        .contains("Acute bronchitis").contains("female").contains("does not answer this question");
    // The relevant fact comes first, ahead of newer weights.
    assertThat(prompt).containsPattern("\\[C1\\] Observation [^\\n]*Hemoglobin A1c");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void anEmptyRecordYieldsNoCitationEvenWhenTheModelWritesOne() throws Exception {
    String empty = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    ScriptedEngine engine = ScriptedEngine.textOnly("ask-empty", request -> "She takes metformin [C1].");
    String model = register("ask-empty", engine);

    HttpResponse<String> response = post("/" + empty + "/$ask",
        ask("Which medications does she take?", "model", new StringType(model)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters answer = parse(response, Parameters.class);
    assertThat(citations(answer)).isEmpty();
    assertThat(summary(answer, "unknownCitations")).isEqualTo(1);
    assertThat(summary(answer, "factsIncluded")).isZero();
    assertThat(answer.getParameter("answer").getValue().primitiveValue()).doesNotContain("[C1]");
    assertThat(engine.lastPromptText()).contains("Facts:\n(none)", "say exactly:",
        "The record does not answer this question.");
  }

  @Test
  void persistKeepsTheAnswerAsAPreliminaryLabelledNoteWithItsProvenance() throws Exception {
    String model = register("ask-persist", citing("ask-persist", "Hemoglobin A1c"));
    Map<String, Integer> before = written();
    HttpResponse<String> response = post("/" + encounter + "/$ask", ask("What was the HbA1c?",
        "model", new StringType(model), "persist", new BooleanType(true)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters answer = parse(response, Parameters.class);
    String document = ((Reference) answer.getParameter("document").getValue()).getReference();
    DocumentReference stored = client.read().resource(DocumentReference.class)
        .withId(document.replaceFirst("/_history/.*", "")).execute();
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(stored.getMeta().getSecurity()).anyMatch(c -> AiVocabulary.AIAST.equals(c.getCode()));
    assertThat(stored.getType().getCodingFirstRep().getCode()).isEqualTo("34109-9");
    assertThat(stored.getSubject().getReference()).isEqualTo(patient);
    assertThat(stored.getContext().getEncounterFirstRep().getReference()).isEqualTo(encounter);
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8))
        .contains("**Question:** What was the HbA1c?", "**Sources**", hba1c + "/_history/1");
    Bundle provenance = client.search().forResource(Provenance.class)
        .where(Provenance.TARGET.hasId(stored.getIdElement().toUnqualifiedVersionless())).returnBundle(Bundle.class)
        .execute();
    assertThat(provenance.getEntry()).singleElement().satisfies(e -> assertThat(((Provenance) e.getResource())
        .getEntity()).anyMatch(x -> x.getWhat().getReference().equals(hba1c + "/_history/1")));
    // The note, its exact prompt (AIInputPrompt) and the new model's card (AIModelCard).
    assertThat(written()).containsEntry("DocumentReference", before.get("DocumentReference") + 3)
        .containsEntry("Provenance", before.get("Provenance") + 1);    assertAuditedNaming(document, "HTTP 200");
  }

  /**
   * The call's AuditEvent names the note the answer was kept as (the answer itself, a Parameters, is
   * stored nowhere), as the other operations' name their drafts; the job's end waits a little.
   */
  void assertAuditedNaming(String note, String outcome) throws InterruptedException {
    List<org.hl7.fhir.r4.model.AuditEvent> found = List.of();
    for (int i = 0; i < 100 && found.isEmpty(); i++) {
      found = client.search().forResource(org.hl7.fhir.r4.model.AuditEvent.class)
          .where(org.hl7.fhir.r4.model.AuditEvent.ENTITY.hasId(note.replaceFirst("/_history/.*", "")))
          .cacheControl(new ca.uhn.fhir.rest.api.CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class)
          .execute().getEntry().stream().map(e -> (org.hl7.fhir.r4.model.AuditEvent) e.getResource())
          .filter(a -> outcome.equals(a.getOutcomeDesc())).toList();
      if (found.isEmpty()) {
        Thread.sleep(100);
      }
    }
    assertThat(found).as("AuditEvents naming " + note + " with " + outcome).singleElement().satisfies(event -> {
      assertThat(event.getSubtype()).anyMatch(c -> "ask".equals(c.getCode()));
      assertThat(event.getEntity()).anySatisfy(entity -> {
        assertThat(entity.getWhat().getReference()).isEqualTo(note);
        assertThat(entity.getRole().getCode()).isEqualTo("3");
      });
    });
  }

  @Test
  void aGeneralQuestionReadsNoRecordAndCannotBeKept() throws Exception {
    ScriptedEngine engine = ScriptedEngine.textOnly("ask-general", request -> "Metformin is first line.");
    String model = register("ask-general", engine);
    Map<String, Integer> before = written();
    HttpResponse<String> response = post("/$ask", ask("Which medications treat type 2 diabetes?",
        "model", new StringType(model), "history", new StringType("What is HbA1c?"),
        "history", new StringType("Glycated haemoglobin.")));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters answer = parse(response, Parameters.class);
    assertThat(answer.getParameter("answer").getValue().primitiveValue()).isEqualTo("Metformin is first line.");
    assertThat(citations(answer)).isEmpty();
    assertThat(engine.lastPromptText()).doesNotContain("Facts:").contains("No patient record is given",
        "What is HbA1c?", "Glycated haemoglobin.");
    assertThat(engine.requests.get(engine.requests.size() - 1).messages()).hasSize(4);

    assertOutcome(post("/$ask", ask("Which drugs?", "model", new StringType(model), "persist", new BooleanType(true))),
        400, "persist=true needs a record");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void badInputIsA4xxOperationOutcomeAndWritesNothing() throws Exception {
    String model = register("ask-bad", ScriptedEngine.textOnly("ask-bad", request -> "never"));
    Map<String, Integer> before = written();
    String op = "/" + patient + "/$ask";
    assertOutcome(post(op, new Parameters().addParameter("model", new StringType(model))), 400, "question");
    assertOutcome(post(op, ask("  ", "model", new StringType(model))), 400, "question");
    assertOutcome(post(op, ask("Why?", "history", new StringType("only a question"))), 400, "in pairs");
    assertOutcome(post(op, ask("Why?", "questoin", new StringType("x"))), 400, "Unknown parameter 'questoin'");
    assertOutcome(post(op, ask("Why?", "maxTokens", new org.hl7.fhir.r4.model.IntegerType(0))), 400, "maxTokens");
    assertOutcome(post(op, ask("Why?", "model", new StringType("no-such-model"))), 400, "no-such-model");
    assertOutcome(post("/$ask", ask("Why?", "patient", new StringType("1"))), 400, "Unknown parameter 'patient'");
    assertOutcome(post("/Patient/does-not-exist/$ask", ask("Why?", "model", new StringType(model))), 404);
    assertOutcome(post("/Encounter/does-not-exist/$ask", ask("Why?", "model", new StringType(model))), 404);
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aFailureHalfwayWritesNothing() throws Exception {
    String failing = register("ask-engine-failure", ScriptedEngine.textOnly("ask-engine-failure", request -> {
      throw new EngineException("ONNX Runtime failed in the decoder");
    }));
    Map<String, Integer> before = written();
    assertOutcome(post("/" + patient + "/$ask", ask("HbA1c?", "model", new StringType(failing),
        "persist", new BooleanType(true))), 500, "Generation failed");
    assertThat(written()).isEqualTo(before);

    String model = register("ask-db-failure", citing("ask-db-failure", "Hemoglobin A1c"));
    FailingProvenanceWrite failure = new FailingProvenanceWrite();
    interceptors.registerInterceptor(failure);
    try {
      HttpResponse<String> response = post("/" + patient + "/$ask", ask("HbA1c?", "model", new StringType(model),
          "persist", new BooleanType(true)));
      assertThat(response.statusCode()).as(response.body()).isGreaterThanOrEqualTo(500);
      assertThat(failure.calls.get()).isPositive();
    } finally {
      interceptors.unregisterInterceptor(failure);
    }
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("ask-db-failure")).isZero();
  }

  /** As $summarize's async result: 201 Created, and the location of the note it stored. */
  @Test
  void asyncWithPersistAnswers201WithTheLocationOfTheStoredNote() throws Exception {
    String model = register("ask-async-persist", citing("ask-async-persist", "Hemoglobin A1c"));
    Map<String, Integer> before = written();
    HttpResponse<String> kickoff = post("/" + encounter + "/$ask", ask("What was the HbA1c?",
        "model", new StringType(model), "persist", new BooleanType(true)), "Prefer", "respond-async");
    Bundle.BundleEntryComponent entry = jobResult(kickoff).getEntryFirstRep();
    assertThat(entry.getResponse().getStatus()).startsWith("201");
    String location = entry.getResponse().getLocation();
    assertThat(location).matches("DocumentReference/[^/]+/_history/1");
    // The location is the note the answer names, and it is stored.
    Parameters answer = (Parameters) entry.getResource();
    assertThat(((Reference) answer.getParameter("document").getValue()).getReference()).isEqualTo(location);
    DocumentReference stored = client.read().resource(DocumentReference.class)
        .withId(location.replaceFirst("/_history/.*", "")).execute();
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    // The note, its exact prompt (AIInputPrompt) and the new model's card (AIModelCard).
    assertThat(written()).containsEntry("DocumentReference", before.get("DocumentReference") + 3);    assertAuditedNaming(location, "HTTP 201");
  }

  @Test
  void asyncKickOffPollsToTheAnswer() throws Exception {
    String model = register("ask-async", citing("ask-async", "Hemoglobin A1c"));
    HttpResponse<String> kickoff = post("/" + patient + "/$ask", ask("HbA1c?", "model", new StringType(model)),
        "Prefer", "respond-async");
    Bundle result = jobResult(kickoff);
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("200");
    Parameters answer = (Parameters) result.getEntryFirstRep().getResource();
    assertThat(citations(answer)).hasSize(1);
  }

  @Test
  void theForgedModelAnswersAndEveryLevelIsInTheCapabilityStatement() throws Exception {
    // The real engine on the forged model: random text, but the FHIR around it is real.
    HttpResponse<String> response = post("/" + encounter + "/$ask", ask("HbA1c?",
        "maxTokens", new org.hl7.fhir.r4.model.IntegerType(4)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters answer = parse(response, Parameters.class);
    assertThat(summary(answer, "generatedTokens")).isBetween(1, 4);
    assertThat(summary(answer, "factsIncluded")).isPositive();

    CapabilityStatement cs = parse(get("/fhir/metadata"), CapabilityStatement.class);
    for (String type : List.of("Patient", "Encounter")) {
      assertThat(cs.getRestFirstRep().getResource().stream().filter(r -> r.getType().equals(type))
          .flatMap(r -> r.getOperation().stream())).as(type).anyMatch(o -> o.getName().equals("ask"));
    }
    assertThat(cs.getRestFirstRep().getOperation()).anyMatch(o -> o.getName().equals("ask"));
  }
}
