package dev.medgemmafhir.engine.sampling;

import java.util.Arrays;

/**
 * Nucleus filtering: keeps the most likely tokens whose probabilities add up to at least p (the
 * most likely token always stays), as transformers' TopPLogitsWarper does.
 */
public final class TopP implements LogitsProcessor {

    private final double p;
    private long[] order = new long[0];

    public TopP(double p) {
        if (!(p > 0 && p <= 1)) {
            throw new IllegalArgumentException("p must be in (0, 1]");
        }
        this.p = p;
    }

    @Override
    public void process(float[] logits) {
        if (p >= 1) {
            return;
        }
        if (order.length < logits.length) {
            order = new long[logits.length];
        }
        int n = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                // Sort key: the float's bits made order-preserving, index in the low half.
                order[n++] = ((long) sortable(logits[i]) << 32) | i;
                max = Math.max(max, logits[i]);
            }
        }
        Arrays.sort(order, 0, n);
        double sum = 0;
        for (int j = 0; j < n; j++) {
            sum += Math.exp(logits[(int) order[j]] - max);
        }
        // Walk from the most likely down; once the kept mass reaches p, drop the rest.
        double kept = 0;
        int j = n - 1;
        for (; j >= 0; j--) {
            kept += Math.exp(logits[(int) order[j]] - max) / sum;
            if (kept >= p) {
                j--;
                break;
            }
        }
        for (; j >= 0; j--) {
            logits[(int) order[j]] = Float.NEGATIVE_INFINITY;
        }
    }

    private static int sortable(float f) {
        int bits = Float.floatToIntBits(f);
        return bits >= 0 ? bits : bits ^ 0x7FFFFFFF;
    }
}
