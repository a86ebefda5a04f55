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
    boolean hasClinicalFacts = context.facts().stream().anyMatch(
        f -> f.section() != ClinicalFact.Section.ENCOUNTER && f.section() != ClinicalFact.Section.PATIENT);
    if (!hasClinicalFacts) {
      throw new UnprocessableEntityException("Encounter/" + encounterId.getIdPart()
          + " has nothing to summarize: no conditions, observations, medications, procedures, allergies,"
          + " reports or notes are recorded for it or its patient");
    }
    ContextBudget.Fitted fitted = ContextBudget.fit(model.engine(), context.facts(), tokens,
        lines -> SummaryPrompt.render(style, lines));
    String key = IdempotencyKey.of("summarize", SummaryPrompt.VERSION, List.of(style.code(), Integer.toString(tokens)),
        model.deviceIdentifier().getValue(), context.inputs());
    return new SummarizeTask(model, context, style, fitted, tokens, key, persist == null || persist);
  }
}
