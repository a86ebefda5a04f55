package dev.medgemmafhir.engine.bench;

import ai.onnxruntime.OnnxJavaType;
import dev.medgemmafhir.engine.model.GraphSignatures;

/**
 * The memory-bound ceiling of decoding: each new token reads every decoder weight once plus the
 * whole KV cache so far, so tokens/s can not exceed bandwidth / (weight bytes + cache bytes).
 *
 * @param weightBytes decoder weight bytes read per token (the embedding table counts one row: nothing)
 * @param kvBytesPerToken cache bytes per token of context, all layers, keys and values
 */
public record Roofline(long weightBytes, long kvBytesPerToken) {

    /** Cache bytes per context token from the graph's past/present layout. */
    public static long kvBytesPerToken(GraphSignatures.Decoder sig) {
        long elem = sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4;
        return 2L * sig.layers() * sig.kvHeads() * sig.headDim() * elem;
    }

    /** Bytes one decode step reads at {@code context} tokens of cache. */
    public long bytesPerToken(double context) {
        return weightBytes + Math.round(kvBytesPerToken * context);
    }

    /** The ceiling in tokens per second at {@code bandwidth} bytes per second. */
    public double tokensPerSecond(double bandwidth, double context) {
        return bandwidth / bytesPerToken(context);
    }
}
