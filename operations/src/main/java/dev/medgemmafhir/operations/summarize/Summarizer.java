package dev.medgemmafhir.operations.summarize;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.operations.context.ClinicalFact;
import dev.medgemmafhir.operations.context.EncounterContext;
import dev.medgemmafhir.operations.context.EncounterContextStrategy;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.prompt.ContextBudget;
import dev.medgemmafhir.operations.run.IdempotencyKey;
import java.util.List;
import org.hl7.fhir.r4.model.IdType;

/** Prepares {@code $summarize}: validates, reads the context, fits the prompt, derives the idempotency key. */
public final class Summarizer {

  /** Limits from configuration. */
  public record Limits(int defaultMaxTokens, int maxTokensCap) {
    public Limits {
      if (defaultMaxTokens < 1 || maxTokensCap < defaultMaxTokens) {
        throw new IllegalArgumentException("summarize: default-max-tokens must be >= 1 and <= max-tokens");
      }
    }
  }

  private final EncounterContextStrategy strategy;
  private final ModelCatalog models;
  private final Limits limits;

  public Summarizer(EncounterContextStrategy strategy, ModelCatalog models, Limits limits) {
    this.strategy = strategy;
    this.models = models;
    this.limits = limits;
  }

  public SummarizeTask prepare(IdType encounterId, String styleCode, Boolean persist, Integer maxTokens,
      String modelId, RequestDetails request) {
    SummaryStyle style = SummaryStyle.fromCode(styleCode);
    if (maxTokens != null && maxTokens < 1) {
      throw new InvalidRequestException("maxTokens must be at least 1, was " + maxTokens);
    }
    int tokens = Math.min(maxTokens == null ? limits.defaultMaxTokens() : maxTokens, limits.maxTokensCap());
    LoadedModel model = models.require(modelId == null || modelId.isBlank() ? models.defaultModelFor("summarize") : modelId);

    EncounterContext context = strategy.gather(encounterId, request);
    boolean hasClinicalFacts = context.facts().stream().anyMatch(Summarizer::clinical);
    if (!hasClinicalFacts) {
      throw new UnprocessableEntityException("Encounter/" + encounterId.getIdPart()
          + " has nothing to summarize: no conditions, observations, medications, procedures, allergies,"
          + " reports or notes are recorded for it or its patient");
    }
    ContextBudget.Fitted fitted = ContextBudget.fit(model.engine(), context.facts(), tokens,
        lines -> SummaryPrompt.render(style, lines));
    if (fitted.included().stream().noneMatch(Summarizer::clinical)) {
      throw nothingFits(encounterId, model, tokens, context, fitted);
    }
    String key = IdempotencyKey.of("summarize", SummaryPrompt.VERSION, List.of(style.code(), Integer.toString(tokens)),
        model.deviceIdentifier().getValue(), context.inputs());
    return new SummarizeTask(model, context, style, fitted, tokens, key, persist == null || persist);
  }

  /** A fact beyond the encounter's own line and the patient's age and sex. */
  private static boolean clinical(ClinicalFact fact) {
    return fact.section() != ClinicalFact.Section.ENCOUNTER && fact.section() != ClinicalFact.Section.PATIENT;
  }

  /**
   * A summary written from no clinical fact would cite nothing: the caller is told what to change
   * instead, with the largest {@code maxTokens} that leaves room for the most important fact.
   */
  private static UnprocessableEntityException nothingFits(IdType encounterId, LoadedModel model, int tokens,
      EncounterContext context, ContextBudget.Fitted fitted) {
    ClinicalFact first = context.facts().stream().filter(Summarizer::clinical).sorted(ClinicalFact.PRIORITY)
        .findFirst().orElseThrow();
    int firstCost = model.engine().countTokens("[C" + (fitted.citations().size() + 1) + "] " + first.text() + "\n");
    int largest = model.engine().contextLength() - fitted.promptTokens() - firstCost;
    long clinicalFacts = context.facts().stream().filter(Summarizer::clinical).count();
    return new UnprocessableEntityException("None of the " + clinicalFacts + " clinical facts of Encounter/"
        + encounterId.getIdPart() + " fits in the context of model '" + model.id() + "' ("
        + model.engine().contextLength() + " tokens) beside the instructions and maxTokens " + tokens
        + ": send a smaller maxTokens" + (largest >= 1 ? " (at most " + largest + ")" : "")
        + " or use a model with a larger context");
  }
}
