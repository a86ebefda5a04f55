package dev.medgemmafhir.operations.ask;

import ca.uhn.fhir.model.api.annotation.Description;
import ca.uhn.fhir.rest.annotation.IdParam;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.run.AiOperationFlow;
import java.util.List;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.StringType;

/**
 * {@code POST Patient/{id}/$ask}, {@code POST Encounter/{id}/$ask} and {@code POST [base]/$ask}: a
 * question answered from the record (or, at [base], a general medical question), every statement
 * about the patient tied to the fact it came from. Parses, then hands over to the {@link Asker} and
 * the {@link AiOperationFlow}.
 */
public final class AskOperation {

  static final String DESCRIPTION = " Parameters: 'question' (required), 'history' (earlier turns in pairs:"
      + " question, answer), 'maxTokens', 'model', 'persist'. Answers a Parameters resource labelled AIAST:"
      + " 'answer' (Markdown, citation keys such as [C3] in the text), one 'citation' per cited fact (parts 'key',"
      + " 'reference' = the fact's versioned reference, 'text' = the fact as the model saw it), 'ai-input-summary'"
      + " (factsIncluded, factsOmitted, factsLeftOut, unknownCitations dropped, tokens, stopReason, model) and, with"
      + " persist=true, 'document': the answer kept as a preliminary AI-labelled DocumentReference (LOINC 34109-9"
      + " Note) with its AI Provenance. Facts are chosen by relevance to the question (BM25 over the fact lines)."
      + " When the facts do not answer, the model is told to say so and to cite nothing. 'Prefer: respond-async'"
      + " runs it as a job; 'Accept: text/event-stream' streams it.";

  // The parameters' descriptions, the same on all three operations.
  private static final String QUESTION = "The question";
  private static final String HISTORY = "Earlier turns of the conversation, oldest first, in pairs: a question, then its answer";
  private static final String MAX_TOKENS = "Most tokens the model may write; capped by medgemma.operations.ask.max-tokens";
  private static final String MODEL = "A configured model id; default: medgemma.operations.ask.model";
  private static final String PERSIST = "false (default): answer only; true: also keep the answer as a preliminary"
      + " DocumentReference with its Provenance";
  private static final String DRY_RUN = "true: run nothing and write nothing; answer the exact messages the model would get";

  private final Asker asker;
  private final AiOperationFlow flow;

  public AskOperation(Asker asker, AiOperationFlow flow) {
    this.asker = asker;
    this.flow = flow;
  }

  @Operation(name = "$ask", type = Patient.class, idempotent = false,
      returnParameters = @OperationParam(name = "answer", typeName = "markdown", min = 1, max = 1))
  @Description(shortDefinition = "AI answer to a question about this patient's record (MedGemma, runs locally)",
      value = "Reads the patient's record (problems, medications, allergies, observations, procedures, immunizations,"
          + " reports, notes, encounters; entered-in-error and refuted records left out) and answers the question from"
          + " it." + DESCRIPTION + " Requires the scope Patient.r, and DocumentReference.c with persist=true.")
  public IBaseResource askPatient(@IdParam IdType patientId,
      @Description(value = QUESTION) @OperationParam(name = "question", min = 1, max = 1, typeName = "string")
      StringType question,
      @Description(value = HISTORY)
      @OperationParam(name = "history", min = 0, max = OperationParam.MAX_UNLIMITED, typeName = "string")
      List<StringType> history,
      @Description(value = MAX_TOKENS)
      @OperationParam(name = "maxTokens", min = 0, max = 1, typeName = "integer") IntegerType maxTokens,
      @Description(value = MODEL)
      @OperationParam(name = "model", min = 0, max = 1, typeName = "string") StringType model,
      @Description(value = PERSIST)
      @OperationParam(name = "persist", min = 0, max = 1, typeName = "boolean") BooleanType persist,
      @Description(value = DRY_RUN)
      @OperationParam(name = "dryRun", min = 0, max = 1, typeName = "boolean") BooleanType dryRun,
      RequestDetails request) {
    return ask(Asker.Scope.PATIENT, patientId, question, history, maxTokens, model, persist, dryRun, request);
  }

  @Operation(name = "$ask", type = Encounter.class, idempotent = false,
      returnParameters = @OperationParam(name = "answer", typeName = "markdown", min = 1, max = 1))
  @Description(shortDefinition = "AI answer to a question about this encounter (MedGemma, runs locally)",
      value = "Reads the encounter's context as $summarize does (its own facts, and the problems, medications and"
          + " allergies active at the time, nothing dated after it) and answers the question from it." + DESCRIPTION
          + " Requires the scope Encounter.r, and DocumentReference.c with persist=true.")
  public IBaseResource askEncounter(@IdParam IdType encounterId,
      @Description(value = QUESTION) @OperationParam(name = "question", min = 1, max = 1, typeName = "string")
      StringType question,
      @Description(value = HISTORY)
      @OperationParam(name = "history", min = 0, max = OperationParam.MAX_UNLIMITED, typeName = "string")
      List<StringType> history,
      @Description(value = MAX_TOKENS)
      @OperationParam(name = "maxTokens", min = 0, max = 1, typeName = "integer") IntegerType maxTokens,
      @Description(value = MODEL)
      @OperationParam(name = "model", min = 0, max = 1, typeName = "string") StringType model,
      @Description(value = PERSIST)
      @OperationParam(name = "persist", min = 0, max = 1, typeName = "boolean") BooleanType persist,
      @Description(value = DRY_RUN)
      @OperationParam(name = "dryRun", min = 0, max = 1, typeName = "boolean") BooleanType dryRun,
      RequestDetails request) {
    return ask(Asker.Scope.ENCOUNTER, encounterId, question, history, maxTokens, model, persist, dryRun, request);
  }

  @Operation(name = "$ask", idempotent = false,
      returnParameters = @OperationParam(name = "answer", typeName = "markdown", min = 1, max = 1))
  @Description(shortDefinition = "AI answer to a general medical question (MedGemma, runs locally; no record read)",
      value = "Answers a general medical question; no patient record is read and nothing is written (persist=true"
          + " is a 400)." + DESCRIPTION + " Requires a valid access token.")
  public IBaseResource askGeneral(
      @Description(value = QUESTION) @OperationParam(name = "question", min = 1, max = 1, typeName = "string")
      StringType question,
      @Description(value = HISTORY)
      @OperationParam(name = "history", min = 0, max = OperationParam.MAX_UNLIMITED, typeName = "string")
      List<StringType> history,
      @Description(value = MAX_TOKENS)
      @OperationParam(name = "maxTokens", min = 0, max = 1, typeName = "integer") IntegerType maxTokens,
      @Description(value = MODEL)
      @OperationParam(name = "model", min = 0, max = 1, typeName = "string") StringType model,
      @Description(value = "Must be false (the default): a general answer belongs to no record")
      @OperationParam(name = "persist", min = 0, max = 1, typeName = "boolean") BooleanType persist,
      @Description(value = DRY_RUN)
      @OperationParam(name = "dryRun", min = 0, max = 1, typeName = "boolean") BooleanType dryRun,
      RequestDetails request) {
    return ask(Asker.Scope.GENERAL, null, question, history, maxTokens, model, persist, dryRun, request);
  }

  private IBaseResource ask(Asker.Scope scope, IdType id, StringType question, List<StringType> history,
      IntegerType maxTokens, StringType model, BooleanType persist, BooleanType dryRun, RequestDetails request) {
    return flow.run(asker.prepare(scope, id,
        question == null ? null : question.getValue(),
        history == null ? List.of() : history.stream().map(StringType::getValue).toList(),
        maxTokens == null ? null : maxTokens.getValue(),
        model == null ? null : model.getValue(),
        persist == null ? null : persist.getValue(),
        request), dryRun != null && Boolean.TRUE.equals(dryRun.getValue()), request);
  }
}
