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

    /** The names transformers.js exports use. */
    public static GraphNames transformersJs() {
        return new GraphNames("input_ids", "inputs_embeds", "attention_mask", "position_ids",
                "past_key_values.%d.key", "past_key_values.%d.value", "logits", "present.%d.key", "present.%d.value");
    }
}
