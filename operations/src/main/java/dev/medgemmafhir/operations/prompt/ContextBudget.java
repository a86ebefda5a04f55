package dev.medgemmafhir.operations.prompt;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.operations.context.ClinicalFact;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * Fits facts into the model's context: the facts are taken in priority order and each one that
 * still fits (measured with the model's own tokenizer) is kept; one that does not is left out and
 * counted, and smaller, lower-priority facts may still follow it. Kept facts get citation keys
 * {@code C1, C2, ...} in the order they appear in the prompt.
 */
public final class ContextBudget {

  private ContextBudget() {}

  /**
   * The prompt, its citation keys and what was left out.
   *
   * @param messages the messages to send to the model
   * @param citations citation key (e.g. {@code C3}) to the versioned reference it stands for
   * @param included the facts in the prompt, in prompt order
   * @param omittedByType how many facts of each resource type were left out
   * @param promptTokens the prompt's length in tokens
   */
  public record Fitted(
      List<ChatMessage> messages,
      Map<String, String> citations,
      List<ClinicalFact> included,
      Map<String, Integer> omittedByType,
      int promptTokens) {

    public int omitted() {
      return omittedByType.values().stream().mapToInt(Integer::intValue).sum();
    }
  }

  /**
   * Chooses the facts that fit.
   *
   * @param facts every fact, in any order
   * @param maxNewTokens room kept for the answer
   * @param render builds the messages from the kept facts' lines (already keyed, e.g. {@code [C1] ...})
   */
  public static Fitted fit(
      Engine engine, List<ClinicalFact> facts, int maxNewTokens,
      Function<List<String>, List<ChatMessage>> render) {
    List<ClinicalFact> ordered = new ArrayList<>(facts);
    ordered.sort(ClinicalFact.PRIORITY);
    return fitInOrder(engine, ordered, maxNewTokens, render);
  }

  /**
   * As {@link #fit}, with the facts taken in the order given (e.g. by {@link Relevance} to a question)
   * instead of by section priority.
   */
  public static Fitted fitInOrder(
      Engine engine, List<ClinicalFact> ordered, int maxNewTokens,
      Function<List<String>, List<ChatMessage>> render) {
    int budget = engine.contextLength() - maxNewTokens;
    GenerationParams params = GenerationParams.greedy(maxNewTokens);
    int fixed = engine.countPromptTokens(new GenerationRequest(render.apply(List.of()), params));
    if (fixed > budget) {
      throw new ca.uhn.fhir.rest.server.exceptions.InvalidRequestException(
          "maxTokens " + maxNewTokens + " leaves no room for the instructions in a context of "
              + engine.contextLength() + " tokens");
    }
    // Each line costs its own tokens plus the newline joining it; the key's width is bounded
    // by the widest key so the estimate never undercounts.
    String widestKey = "[C" + Math.max(1, ordered.size()) + "] ";
    List<ClinicalFact> kept = new ArrayList<>();
    Map<String, Integer> omitted = new TreeMap<>();
    int used = fixed;
    for (ClinicalFact fact : ordered) {
      int cost = engine.countTokens(widestKey + fact.text() + "\n");
      if (used + cost <= budget) {
        kept.add(fact);
        used += cost;
      } else {
        omitted.merge(fact.resourceType(), 1, Integer::sum);
      }
    }

    Map<String, String> citations = new LinkedHashMap<>();
    List<String> lines = new ArrayList<>();
    for (ClinicalFact fact : kept) {
      String key = "C" + (citations.size() + 1);
      citations.put(key, fact.reference());
      lines.add("[" + key + "] " + fact.text());
    }
    List<ChatMessage> messages = render.apply(lines);
    int promptTokens = engine.countPromptTokens(new GenerationRequest(messages, params));
    return new Fitted(messages, citations, kept, omitted, promptTokens);
  }
}
