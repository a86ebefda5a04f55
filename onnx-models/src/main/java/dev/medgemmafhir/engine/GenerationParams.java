package dev.medgemmafhir.engine;

import java.util.List;
import java.util.OptionalLong;

/**
 * How to pick tokens and when to stop.
 *
 * <p>{@code temperature == 0} is greedy decoding (argmax), the setting for clinical use.
 * With a positive temperature, tokens are sampled after the logits processors run in this order:
 * repetition penalty, temperature, top-k, top-p. A {@code null} top-k or top-p means "the model's
 * generation_config.json value"; {@code 0} top-k and {@code 1.0} top-p switch them off.
 *
 * @param maxNewTokens upper bound on generated tokens (end-of-sequence token included)
 * @param temperature 0 for greedy, otherwise the softmax temperature
 * @param topK keep the k most likely tokens; null = model default, 0 = off
 * @param topP keep the smallest set of tokens whose probability reaches p; null = model default, 1 = off
 * @param repetitionPenalty 1 = off; &gt; 1 discourages tokens already in prompt or output (as in transformers)
 * @param seed seed for sampling; empty = a random seed
 * @param stopStrings generation stops when the text contains one of these (it is cut before it)
 */
public record GenerationParams(
        int maxNewTokens,
        double temperature,
        Integer topK,
        Double topP,
        double repetitionPenalty,
        OptionalLong seed,
        List<String> stopStrings) {

    public GenerationParams {
        if (maxNewTokens < 1) {
            throw new InvalidInputException("maxNewTokens must be at least 1, was " + maxNewTokens);
        }
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new InvalidInputException("temperature must be finite and >= 0, was " + temperature);
        }
        if (topK != null && topK < 0) {
            throw new InvalidInputException("topK must be >= 0, was " + topK);
        }
        if (topP != null && !(topP > 0 && topP <= 1)) {
            throw new InvalidInputException("topP must be in (0, 1], was " + topP);
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new InvalidInputException("repetitionPenalty must be finite and > 0, was " + repetitionPenalty);
        }
        seed = seed == null ? OptionalLong.empty() : seed;
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        if (stopStrings.stream().anyMatch(String::isEmpty)) {
            throw new InvalidInputException("stop strings must not be empty");
        }
    }

    /** Greedy decoding of up to {@code maxNewTokens} tokens, no stop strings. */
    public static GenerationParams greedy(int maxNewTokens) {
        return new GenerationParams(maxNewTokens, 0, null, null, 1.0, OptionalLong.empty(), List.of());
    }

    public boolean isGreedy() {
        return temperature == 0;
    }

    public GenerationParams withMaxNewTokens(int n) {
        return new GenerationParams(n, temperature, topK, topP, repetitionPenalty, seed, stopStrings);
    }

    public GenerationParams withSampling(double temperature, Integer topK, Double topP, long seed) {
        return new GenerationParams(maxNewTokens, temperature, topK, topP, repetitionPenalty, OptionalLong.of(seed), stopStrings);
    }

    public GenerationParams withRepetitionPenalty(double penalty) {
        return new GenerationParams(maxNewTokens, temperature, topK, topP, penalty, seed, stopStrings);
    }

    public GenerationParams withStopStrings(List<String> stops) {
        return new GenerationParams(maxNewTokens, temperature, topK, topP, repetitionPenalty, seed, stops);
    }
}
