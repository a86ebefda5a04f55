package dev.medgemmafhir.engine.model;

import java.util.Arrays;

/**
 * The sliding-window layers of a decoder written by {@code models convert --attention fused}
 * (conversion.json {@code slidingWindowCache}): each of these layers attends to its last
 * {@code window} keys only (the token itself included), so a decode step needs just the
 * {@code window - 1} newest keys and values of its cache. The batch keeps those layers' cache that
 * short, and marks the tokens it dropped from them with
 * {@link GraphNames#SLIDING_EVICTED_MASK_VALUE} in {@code attention_mask}; the global layers keep
 * every token.
 *
 * @param window keys a sliding layer's query attends to, itself included (Gemma's {@code sliding_window})
 * @param layers per layer, whether it is a sliding-window layer
 */
public record SlidingWindowCache(int window, boolean[] layers) {

    public SlidingWindowCache {
        if (window < 1 || layers == null) {
            throw new IllegalArgumentException("a sliding window of at least 1 key and the layers' kinds are required");
        }
        layers = layers.clone();
    }

    /** Cache columns a sliding layer must still hold before a step: the window's earlier keys. */
    public int keptColumns() {
        return window - 1;
    }

    public boolean sliding(int layer) {
        return layers[layer];
    }

    public int slidingLayerCount() {
        int n = 0;
        for (boolean b : layers) {
            n += b ? 1 : 0;
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SlidingWindowCache s && s.window == window && Arrays.equals(s.layers, layers);
    }

    @Override
    public int hashCode() {
        return 31 * window + Arrays.hashCode(layers);
    }

    @Override
    public String toString() {
        return "SlidingWindowCache[window=" + window + ", layers=" + Arrays.toString(layers) + "]";
    }
}
