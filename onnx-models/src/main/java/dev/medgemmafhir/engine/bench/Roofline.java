package dev.medgemmafhir.engine.bench;

import ai.onnxruntime.OnnxJavaType;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.SlidingWindowCache;

/**
 * The memory-bound ceiling of decoding: each new token reads every decoder weight once plus the
 * KV cache it attends to, so tokens/s can not exceed bandwidth / (weight bytes + cache bytes).
 * A sliding-window layer needs only its window of the cache (as llama.cpp keeps it), so with a
 * known window its share counts at most {@code window} tokens.
 *
 * @param weightBytes decoder weight bytes read per token (the embedding table counts one row: nothing)
 * @param kvBytesPerToken cache bytes per token of context, all layers, keys and values
 * @param slidingKvBytesPerToken the sliding-window layers' part of {@code kvBytesPerToken}; 0 when none is known
 * @param window keys a sliding layer attends to ({@code slidingKvBytesPerToken} counts at most this many tokens)
 */
public record Roofline(long weightBytes, long kvBytesPerToken, long slidingKvBytesPerToken, int window) {

    /** Every layer attends to the whole cache. */
    public Roofline(long weightBytes, long kvBytesPerToken) {
        this(weightBytes, kvBytesPerToken, 0, 0);
    }

    /** The ceiling of a decoder: its weights, its cache layout and, when the model names them, its sliding layers. */
    public static Roofline of(long weightBytes, GraphSignatures.Decoder sig) {
        long perToken = kvBytesPerToken(sig);
        SlidingWindowCache sliding = sig.slidingCache();
        if (sliding == null) {
            return new Roofline(weightBytes, perToken);
        }
        return new Roofline(weightBytes, perToken, perToken / sig.layers() * sliding.slidingLayerCount(), sliding.window());
    }

    /** Cache bytes per context token from the graph's past/present layout. */
    public static long kvBytesPerToken(GraphSignatures.Decoder sig) {
        long elem = sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4;
        return 2L * sig.layers() * sig.kvHeads() * sig.headDim() * elem;
    }

    /** Bytes one decode step reads at {@code context} tokens of cache. */
    public long bytesPerToken(double context) {
        double windowed = slidingKvBytesPerToken == 0 ? 0 : slidingKvBytesPerToken * Math.min(context, window);
        return weightBytes + Math.round((kvBytesPerToken - slidingKvBytesPerToken) * context + windowed);
    }

    /** The ceiling in tokens per second at {@code bandwidth} bytes per second. */
    public double tokensPerSecond(double bandwidth, double context) {
        return bandwidth / bytesPerToken(context);
    }
}
