package dev.medgemmafhir.engine.sampling;

/**
 * One rule applied to the last position's logits before a token is picked (as transformers.js
 * models sampling). Processors work in place; a token is ruled out by setting its logit to
 * negative infinity. One instance serves one generation.
 */
public interface LogitsProcessor {

    /** Rewrites {@code logits} (one entry per vocabulary id). */
    void process(float[] logits);

    /** Told about every token of the sequence, prompt first, then each generated one. */
    default void accept(int tokenId) {
    }
}
