package dev.medgemmafhir.engine.model;

/**
 * Input and output names of the decoder graph. transformers.js exports use fixed names;
 * genai_config.json spells them out, with {@code %d} standing for the layer index.
 */
public record GraphNames(
        String inputIds,
        String inputsEmbeds,
        String attentionMask,
        String positionIds,
        String pastKey,
        String pastValue,
        String logits,
        String presentKey,
        String presentValue) {

    /**
     * The {@code attention_mask} value that marks an image token of the current prefill in graphs
     * written by {@code models convert} (conversion.json {@code attentionMaskImageValue}): Gemma 3's
     * tokens of one image attend to each other. Any non-zero value still means "attend", so callers
     * that feed plain 0/1 masks (transformers.js) run the graph, causally. A separate input would not
     * do: transformers.js refuses graphs with inputs it does not know, and ONNX Runtime's Java API
     * cannot feed an optional (overridable-initializer) input.
     */
    public static final long IMAGE_TOKEN_MASK_VALUE = 2;

    /**
     * The {@code attention_mask} value that marks a token the sliding-window layers' cache no longer
     * holds, in graphs whose conversion.json has {@code slidingWindowCache} ({@link SlidingWindowCache}):
     * global layers attend to it like a 1; on sliding layers the cache begins after the last such
     * column. Such columns are a prefix of the mask, the same length in every row of a batch (the
     * longest row has no padding, so its count of marks is that length). A 0/1 mask marks none, and
     * every layer then sees the whole cache, as before.
     */
    public static final long SLIDING_EVICTED_MASK_VALUE = 3;

    /** The names transformers.js exports use. */
    public static GraphNames transformersJs() {
        return new GraphNames("input_ids", "inputs_embeds", "attention_mask", "position_ids",
                "past_key_values.%d.key", "past_key_values.%d.value", "logits", "present.%d.key", "present.%d.value");
    }
}
