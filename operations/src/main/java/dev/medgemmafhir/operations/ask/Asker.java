package dev.medgemmafhir.operations.ask;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import dev.medgemmafhir.operations.context.EncounterContext;
import dev.medgemmafhir.operations.context.EncounterContextStrategy;
import dev.medgemmafhir.operations.context.FactText;
import dev.medgemmafhir.operations.context.JpaPatientRecord;
import dev.medgemmafhir.operations.context.PatientRecord;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.prompt.ContextBudget;
import dev.medgemmafhir.operations.prompt.ClinicalSynonyms;
import dev.medgemmafhir.operations.prompt.Relevance;
import dev.medgemmafhir.operations.run.IdempotencyKey;
import java.util.ArrayList;
import java.util.List;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Patient;

/**
 * Prepares {@code $ask}: validates, reads the record (a patient's, an encounter's, or none for a
 * general question), chooses the facts that fit by their relevance to the question, and derives the
 * idempotency key of a stored answer.
 */
public final class Asker {

  /** Longest question and earlier turn accepted, in characters. */
  public static final int MAX_QUESTION_CHARS = 4000;

  /** Limits from configuration. */
  public record Limits(int defaultMaxTokens, int maxTokensCap) {
    public Limits {
      if (defaultMaxTokens < 1 || maxTokensCap < defaultMaxTokens) {
        throw new IllegalArgumentException("ask: default-max-tokens must be >= 1 and <= max-tokens");
      }
    }
  }

  /** What the question is about. */
  public enum Scope { PATIENT, ENCOUNTER, GENERAL }

  private final JpaPatientRecord patients;
  private final EncounterContextStrategy encounters;
  private final ModelCatalog models;
  private final Limits limits;
  private final Relevance relevance;

  public Asker(JpaPatientRecord patients, EncounterContextStrategy encounters, ModelCatalog models, Limits limits) {
    this(patients, encounters, models, limits, new Relevance(ClinicalSynonyms.bundled()));
  }

  /** @param relevance how the facts are ranked for a question (its synonym list) */
  public Asker(JpaPatientRecord patients, EncounterContextStrategy encounters, ModelCatalog models, Limits limits,
      Relevance relevance) {
    this.patients = patients;
    this.encounters = encounters;
    this.models = models;
    this.limits = limits;
    this.relevance = relevance;
  }

  public AskTask prepare(Scope scope, IdType id, String question, List<String> history, Integer maxTokens,
      String modelId, Boolean persist, RequestDetails request) {
    if (question == null || question.isBlank()) {
      throw new InvalidRequestException("Parameter 'question' is required and must not be blank");
    }
    List<String> turns = history == null ? List.of() : history;
    if (turns.size() % 2 != 0) {
      throw new InvalidRequestException("Parameter 'history' takes earlier turns in pairs (a question, then its"
          + " answer); " + turns.size() + " were given");
    }
    for (String text : concat(question, turns)) {
      if (text == null || text.isBlank() || text.length() > MAX_QUESTION_CHARS) {
        throw new InvalidRequestException("Each question and earlier turn must hold 1 to " + MAX_QUESTION_CHARS
            + " characters");
      }
    }
    if (maxTokens != null && maxTokens < 1) {
      throw new InvalidRequestException("maxTokens must be at least 1, was " + maxTokens);
    }
    boolean store = persist != null && persist;
    if (store && scope == Scope.GENERAL) {
      throw new InvalidRequestException("persist=true needs a record to keep the answer in: ask"
          + " Patient/{id}/$ask or Encounter/{id}/$ask");
    }
    int tokens = Math.min(maxTokens == null ? limits.defaultMaxTokens() : maxTokens, limits.maxTokensCap());
    LoadedModel model = models.require(modelId == null || modelId.isBlank() ? models.defaultModelFor("ask") : modelId);
    String q = question.strip();

    AskTask.Record record = switch (scope) {
      case PATIENT -> {
        PatientRecord found = patients.gather(id, request);
        yield new AskTask.Record("Patient/" + found.patient().getIdElement().getIdPart(),
            "Patient/" + found.patient().getIdElement().getIdPart(), null, header(found.patient()), found.facts(),
            found.inputs(), found.leftOut());
      }
      case ENCOUNTER -> {
        EncounterContext found = encounters.gather(id, request);
        String patient = found.patient() == null ? null : "Patient/" + found.patient().getIdElement().getIdPart();
        String encounter = "Encounter/" + found.encounter().getIdElement().getIdPart();
        yield new AskTask.Record(encounter, patient, encounter, null, found.facts(), found.inputs(), 0);
      }
      case GENERAL -> new AskTask.Record(null, null, null, null, null, List.of(), 0);
    };
    ContextBudget.Fitted fitted = ContextBudget.fitInOrder(model.engine(),
        record.facts() == null ? List.of() : relevance.ranked(q, record.facts()), tokens,
        lines -> AskPrompt.render(record.header(), turns, q, record.facts() == null ? null : lines));
    List<String> parameters = new ArrayList<>(concat(q, turns));
    parameters.add(Integer.toString(tokens));
    String key = IdempotencyKey.of("ask", AskPrompt.VERSION, parameters, model.deviceIdentifier().getValue(),
        record.inputs());
    return new AskTask(model, record, q, fitted, tokens, key, store);
  }

  /** Age and sex only, as for a summary; not a citable fact, so an empty record has nothing to cite. */
  private static String header(Patient p) {
    int age = FactText.ageInYears(p.getBirthDate(), null);
    return "Patient: " + (p.hasGender() ? p.getGender().toCode() : "sex unknown")
        + (age >= 0 ? ", " + age + " years old" : "")
        + (p.hasDeceasedDateTimeType() ? ", deceased " + FactText.date(p.getDeceasedDateTimeType().getValue()) : "");
  }

  private static List<String> concat(String first, List<String> rest) {
    List<String> all = new ArrayList<>();
    all.add(first);
    all.addAll(rest);
    return all;
  }
}
