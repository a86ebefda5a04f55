package dev.medgemmafhir.engine.forge;

/**
 * Sizes of a forged model. The defaults are tiny so a model forges and runs in milliseconds;
 * {@link #medGemma4bShape()} reproduces the real 4B sizes for benchmarks (forge it with
 * external data: its weights are many gigabytes).
 *
 * @param hidden       residual width ({@code hidden_size})
 * @param layers       decoder layers ({@code num_hidden_layers})
 * @param heads        query heads ({@code num_attention_heads})
 * @param kvHeads      key/value heads ({@code num_key_value_heads}); {@code heads} must be a multiple
 * @param headDim      per-head width ({@code head_dim}); even, for rotate-half RoPE
 * @param intermediate MLP width ({@code intermediate_size})
 * @param vocab        logit columns and tokenizer ids ({@code vocab_size})
 * @param maxPositions rows of the RoPE tables: a position id at or beyond it fails in Gather
 * @param imageSize    square image side the vision encoder takes
 * @param patchSize    square patch side; {@code (imageSize / patchSize)^2} tokens per image
 */
public record ForgeDims(
        int hidden,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int intermediate,
        int vocab,
        int maxPositions,
        int imageSize,
        int patchSize) {

    public ForgeDims {
        require(hidden > 0 && layers > 0 && heads > 0 && kvHeads > 0 && intermediate > 0, "sizes must be positive");
        require(heads % kvHeads == 0, "heads (" + heads + ") must be a multiple of kvHeads (" + kvHeads + ")");
        require(headDim > 0 && headDim % 2 == 0, "headDim must be even for rotate-half RoPE: " + headDim);
        require(vocab >= ForgedTokenizer.MIN_VOCAB, "vocab must hold the byte tokens and specials: >= " + ForgedTokenizer.MIN_VOCAB);
        require(maxPositions > 1, "maxPositions must exceed 1");
        require(patchSize > 0 && imageSize % patchSize == 0, "imageSize must be a multiple of patchSize");
    }

    /** hidden 64, 2 layers, 4 heads over 2 kv heads of 16, MLP 128, 640 ids, 1024 positions, 32x32 images in 16 tokens. */
    public static ForgeDims tiny() {
        return new ForgeDims(64, 2, 4, 2, 16, 128, 640, 1024, 32, 8);
    }

    /** MedGemma 4B's decoder sizes (MEDGEMMA_ONNX.md); 896x896 images in 256 tokens. */
    public static ForgeDims medGemma4bShape() {
        return new ForgeDims(2560, 34, 8, 4, 256, 10240, 262208, 8192, 896, 56);
    }

    public int tokensPerImage() {
        int side = imageSize / patchSize;
        return side * side;
    }

    public ForgeDims withLayers(int newLayers) {
        return new ForgeDims(hidden, newLayers, heads, kvHeads, headDim, intermediate, vocab, maxPositions, imageSize, patchSize);
    }

    public ForgeDims withVocab(int newVocab) {
        return new ForgeDims(hidden, layers, heads, kvHeads, headDim, intermediate, newVocab, maxPositions, imageSize, patchSize);
    }

    public ForgeDims withMaxPositions(int newMax) {
        return new ForgeDims(hidden, layers, heads, kvHeads, headDim, intermediate, vocab, newMax, imageSize, patchSize);
    }

    public ForgeDims withImage(int newImageSize, int newPatchSize) {
        return new ForgeDims(hidden, layers, heads, kvHeads, headDim, intermediate, vocab, maxPositions, newImageSize, newPatchSize);
    }

    public ForgeDims withAttention(int newHeads, int newKvHeads, int newHeadDim) {
        return new ForgeDims(hidden, layers, newHeads, newKvHeads, newHeadDim, intermediate, vocab, maxPositions, imageSize, patchSize);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
