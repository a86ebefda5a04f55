package dev.medgemmafhir.engine.sampling;

import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks the next token from the last position's logits: the processors run in order, then greedy
 * takes the argmax (lowest id on ties) and sampling draws from the softmax with a seeded generator,
 * so a given seed reproduces a generation. One instance per generation.
 */
public final class TokenSampler {

    private final List<LogitsProcessor> processors;
    private final SplittableRandom random;
    private final long seed;

    public TokenSampler(List<LogitsProcessor> processors, SplittableRandom random, long seed) {
        this.processors = List.copyOf(processors);
        this.random = random;
        this.seed = seed;
    }

    /**
     * The processors {@code params} ask for: repetition penalty, then (when sampling) temperature,
     * top-k and top-p; a null top-k / top-p takes the model's default.
     */
    public static TokenSampler of(GenerationParams params, Integer defaultTopK, Double defaultTopP) {
        List<LogitsProcessor> list = new ArrayList<>();
        if (params.repetitionPenalty() != 1.0) {
            list.add(new RepetitionPenalty(params.repetitionPenalty()));
        }
        if (params.isGreedy()) {
            return new TokenSampler(list, null, 0);
        }
        list.add(new Temperature(params.temperature()));
        Integer k = params.topK() != null ? params.topK() : defaultTopK;
        if (k != null && k > 0) {
            list.add(new TopK(k));
        }
        Double p = params.topP() != null ? params.topP() : defaultTopP;
        if (p != null && p < 1.0) {
            list.add(new TopP(p));
        }
        long seed = params.seed().orElseGet(() -> new SplittableRandom().nextLong());
        return new TokenSampler(list, new SplittableRandom(seed), seed);
    }

    /** The seed sampling uses (0 for greedy). */
    public long seed() {
        return seed;
    }

    /** Tells the processors about a token of the sequence (prompt or generated). */
    public void accept(int tokenId) {
        for (LogitsProcessor p : processors) {
            p.accept(tokenId);
        }
    }

    /** The next token; {@code logits} is overwritten. */
    public int next(float[] logits) {
        for (LogitsProcessor p : processors) {
            p.process(logits);
        }
        return random == null ? argmax(logits) : sample(logits);
    }

    /** Index of the largest value, the first on ties; NaN logits (fp16 overflow) are an error. */
    public static int argmax(float[] logits) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        boolean any = false;
        for (int i = 0; i < logits.length; i++) {
            float v = logits[i];
            if (v > max || (!any && v == max)) {
                max = v;
                best = i;
                any = true;
            } else if (v != v) {
                throw nan();
            }
        }
        if (logits.length > 0 && logits[best] != logits[best]) {
            throw nan();
        }
        return best;
    }

    private int sample(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            if (v != v) {
                throw nan();
            }
            max = Math.max(max, v);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new EngineException("every token was ruled out by the logits processors");
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double u = random.nextDouble() * sum;
        int last = 0;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] == Float.NEGATIVE_INFINITY) {
                continue;
            }
            last = i;
            u -= Math.exp(logits[i] - max);
            if (u <= 0) {
                return i;
            }
        }
        return last;
    }

    private static EngineException nan() {
        return new EngineException("the model produced NaN logits (a float16 overflow? prefer a variant with fp32 activations such as fp32 or q4)");
    }
}
