package dev.medgemmafhir.operations.summarize;

import ca.uhn.fhir.model.api.annotation.Description;
import ca.uhn.fhir.rest.annotation.IdParam;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.run.AiOperationFlow;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.StringType;

/**
 * {@code POST [base]/Encounter/{id}/$summarize}: parses, then hands over. What goes into a summary
 * is the {@link dev.medgemmafhir.operations.context.EncounterContextStrategy}'s business; the rest
 * (dry run, earlier draft, sync or async, writing) the {@link AiOperationFlow}'s.
 */
public final class SummarizeOperation {

  private final Summarizer summarizer;
  private final AiOperationFlow flow;

  public SummarizeOperation(Summarizer summarizer, AiOperationFlow flow) {
    this.summarizer = summarizer;
    this.flow = flow;
  }

  @Operation(name = "$summarize", type = Encounter.class, idempotent = false,
      returnParameters = @OperationParam(name = "return", type = DocumentReference.class, min = 1, max = 1))
  @Description(shortDefinition = "AI draft summary of an encounter (MedGemma, runs locally)",
      value = "Reads the encounter, its patient and their clinical facts, asks the configured MedGemma model for a"
          + " summary that cites its sources, and writes it as a preliminary DocumentReference labelled AIAST"
          + " together with an AI Provenance listing every input, in one transaction. A retry over unchanged"
          + " inputs returns the existing draft. With 'Prefer: respond-async' it answers 202 and a"
          + " Content-Location to poll. Requires the scopes Encounter.r and DocumentReference.c.")
  public IBaseResource summarize(
      @IdParam IdType encounterId,
      @Description(value = "brief (default): a few bullet points; discharge: a discharge summary (LOINC 18842-5);"
          + " handoff: an I-PASS handoff")
      @OperationParam(name = "style", min = 0, max = 1, typeName = "code") CodeType style,
      @Description(value = "true (default): write the draft and its Provenance; false: return the draft unsaved and"
          + " write nothing")
      @OperationParam(name = "persist", min = 0, max = 1, typeName = "boolean") BooleanType persist,
      @Description(value = "Most tokens the model may write; capped by medgemma.operations.summarize.max-tokens")
      @OperationParam(name = "maxTokens", min = 0, max = 1, typeName = "integer") IntegerType maxTokens,
      @Description(value = "A configured model id; default: medgemma.operations.summarize.model")
      @OperationParam(name = "model", min = 0, max = 1, typeName = "string") StringType model,
      @Description(value = "true: run nothing and write nothing; answer a Parameters resource with the exact"
          + " messages the model would get (system, user), promptTokens, the facts included and omitted, and each"
          + " citation key's reference")
      @OperationParam(name = "dryRun", min = 0, max = 1, typeName = "boolean") BooleanType dryRun,
      RequestDetails request) {
    return flow.run(summarizer.prepare(encounterId,
        style == null ? null : style.getValue(),
        persist == null ? null : persist.getValue(),
        maxTokens == null ? null : maxTokens.getValue(),
        model == null ? null : model.getValue(),
        request), dryRun != null && Boolean.TRUE.equals(dryRun.getValue()), request);
  }
}
