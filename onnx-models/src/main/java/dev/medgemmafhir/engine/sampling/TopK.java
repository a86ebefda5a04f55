package dev.medgemmafhir.engine.sampling;

import java.util.Arrays;

/** Keeps the k largest logits (ties with the k-th are kept too, as in transformers). */
public final class TopK implements LogitsProcessor {

    private final int k;
    private float[] scratch = new float[0];

    public TopK(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be >= 1");
        }
        this.k = k;
    }

    @Override
    public void process(float[] logits) {
        if (k >= logits.length) {
            return;
        }
        if (scratch.length != logits.length) {
            scratch = new float[logits.length];
        }
        System.arraycopy(logits, 0, scratch, 0, logits.length);
        float threshold = kthLargest(scratch, k);
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] < threshold) {
                logits[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    /** Quickselect for the k-th largest value (reorders {@code a}). */
    static float kthLargest(float[] a, int k) {
        int target = a.length - k;
        int lo = 0;
        int hi = a.length - 1;
        while (lo < hi) {
            float pivot = median(a[lo], a[(lo + hi) >>> 1], a[hi]);
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (a[i] < pivot) {
                    i++;
                }
                while (a[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    float t = a[i];
                    a[i] = a[j];
                    a[j] = t;
                    i++;
                    j--;
                }
            }
            if (target <= j) {
                hi = j;
            } else if (target >= i) {
                lo = i;
            } else {
                return a[target];
            }
        }
        return a[target];
    }

    private static float median(float a, float b, float c) {
        float[] v = {a, b, c};
        Arrays.sort(v);
        return v[1];
    }
}
