package dev.medgemmafhir.engine.model;

/** The three ways a MedGemma / Gemma 3 ONNX export lays out its files (see MEDGEMMA_ONNX.md). */
public enum Layout {
    /** transformers.js image + text: {@code onnx/embed_tokens}, {@code onnx/vision_encoder}, {@code onnx/decoder_model_merged}. */
    TRANSFORMERS_JS_IMAGE_TEXT,
    /** transformers.js text only: one {@code onnx/model} graph taking {@code input_ids}. */
    TRANSFORMERS_JS_TEXT,
    /** onnxruntime-genai: {@code genai_config.json} names the graph files and every input and output. */
    GENAI
}
