package dev.medgemmafhir.engine.sampling;

/**
 * Discourages tokens already in the sequence, as transformers' RepetitionPenaltyLogitsProcessor
 * does: a seen token's positive logit is divided by the penalty, a negative one multiplied.
 */
public final class RepetitionPenalty implements LogitsProcessor {

    private final float penalty;
    private int[] seen = new int[64];
    private int count;
    private boolean[] isSeen = new boolean[0];

    public RepetitionPenalty(double penalty) {
        if (!(penalty > 0)) {
            throw new IllegalArgumentException("penalty must be > 0");
        }
        this.penalty = (float) penalty;
    }

    @Override
    public void accept(int tokenId) {
        if (tokenId >= isSeen.length) {
            isSeen = java.util.Arrays.copyOf(isSeen, Math.max(tokenId + 1, isSeen.length * 2));
        }
        if (!isSeen[tokenId]) {
            isSeen[tokenId] = true;
            if (count == seen.length) {
                seen = java.util.Arrays.copyOf(seen, count * 2);
            }
            seen[count++] = tokenId;
        }
    }

    @Override
    public void process(float[] logits) {
        for (int i = 0; i < count; i++) {
            int id = seen[i];
            if (id < logits.length) {
                float l = logits[id];
                logits[id] = l > 0 ? l / penalty : l * penalty;
            }
        }
    }
}
