package dev.medgemmafhir.engine.forge;

/** The three model directory layouts of MEDGEMMA_ONNX.md that the engine must load. */
public enum ModelLayout {
    /** A: transformers.js image + text: {@code onnx/embed_tokens}, {@code onnx/vision_encoder}, {@code onnx/decoder_model_merged}. */
    IMAGE_TEXT,
    /** B: transformers.js text only ({@code model_type gemma3_text}): one graph {@code onnx/model}. */
    TEXT_ONLY,
    /** C: onnxruntime-genai: {@code genai_config.json} naming {@code model.onnx} and its input/output patterns. */
    GENAI
}
