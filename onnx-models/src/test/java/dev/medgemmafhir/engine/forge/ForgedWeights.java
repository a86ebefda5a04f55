package dev.medgemmafhir.engine.forge;

/**
 * The random weights of one forged model, named like the Hugging Face checkpoint tensors. Every
 * graph and variant of a model draws from here, so {@code embed_tokens} and {@code model.onnx}
 * share one embedding table and q4 quantizes exactly the fp32 weights.
 *
 * <p>Scales are chosen so a random model behaves like a language model rather than noise or an
 * echo: activations stay near unit RMS through the residual stream, attention scores spread
 * over roughly one unit (so position and mask matter), and the untied output head gives
 * logits with a standard deviation of about {@value #HEAD_GAIN}, peaked enough for greedy
 * decoding to follow the context.
 */
final class ForgedWeights {

    static final float HEAD_GAIN = 4f;
    static final float NORM_EPS = 1e-6f;
    static final float ROPE_THETA = 10_000f;

    private final long seed;
    private final ForgeDims dims;
    private final double positionJitter;

    ForgedWeights(long seed, ForgeDims dims, double positionJitter) {
        this.seed = seed;
        this.dims = dims;
        this.positionJitter = positionJitter;
    }

    ForgeDims dims() {
        return dims;
    }

    /** {@code [vocab, hidden]}, scaled by 1/sqrt(hidden) because the graph multiplies by sqrt(hidden) as Gemma does. */
    SeededFloats embedTokens() {
        return SeededFloats.random(seed, "model.embed_tokens.weight", 0f, (float) (1 / Math.sqrt(dims.hidden())),
                dims.vocab(), dims.hidden());
    }

    /** A {@code [in, out]} projection (the transpose of torch's layout, ready for {@code MatMul(x, W)}). */
    SeededFloats projection(String name, int in, int out, float gain) {
        return SeededFloats.random(seed, name, 0f, (float) (gain / Math.sqrt(in)), in, out);
    }

    /** RMSNorm scale near one: random enough that a norm mixed up with another changes the output. */
    SeededFloats normWeight(String name, int width) {
        return SeededFloats.random(seed, name, 1f, 0.1f, width);
    }

    /** {@code [vocab]}-wide head, untied from the embedding so the model does not echo its last token. */
    SeededFloats lmHead() {
        return projection("lm_head.weight", dims.hidden(), dims.vocab(), HEAD_GAIN);
    }

    /** {@code [maxPositions, headDim]} table of cos (or sin) of the rotary angles, both halves repeated. */
    SeededFloats ropeTable(boolean cosine) {
        int half = dims.headDim() / 2;
        long jitterStream = SeededFloats.mix(seed * 31 + "rope.jitter".hashCode());
        return new SeededFloats(new long[] {dims.maxPositions(), dims.headDim()}, index -> {
            long position = index / dims.headDim();
            int i = (int) (index % dims.headDim()) % half;
            double invFreq = Math.pow(ROPE_THETA, -2.0 * i / dims.headDim());
            double jitter = positionJitter * SeededFloats.uniformSigned(jitterStream, position * half + i);
            double angle = position * invFreq + jitter;
            return (float) (cosine ? Math.cos(angle) : Math.sin(angle));
        });
    }

    /** Learned position embedding of the vision patches, {@code [tokensPerImage, hidden]}. */
    SeededFloats patchPositions() {
        return SeededFloats.random(seed, "vision.position_embedding.weight", 0f, 1f, dims.tokensPerImage(), dims.hidden());
    }

    int patchWidth() {
        return 3 * dims.patchSize() * dims.patchSize();
    }
}
