package dev.medgemmafhir.engine.forge;

/**
 * A quantization variant as the real exports name it: the dtype string users pass
 * ({@code --dtype q4}) and the file-name suffix transformers.js appends to each graph.
 */
public enum WeightVariant {
    /** fp32 weights and activations; transformers.js files carry no suffix. */
    FP32("fp32", ""),
    /** 4-bit block-quantized weight MatMuls ({@code com.microsoft MatMulNBits}), fp32 activations. */
    Q4("q4", "_q4");

    private final String dtype;
    private final String fileSuffix;

    WeightVariant(String dtype, String fileSuffix) {
        this.dtype = dtype;
        this.fileSuffix = fileSuffix;
    }

    /** The name transformers.js and the engine's {@code --dtype} use, e.g. {@code q4}. */
    public String dtype() {
        return dtype;
    }

    /** Appended to a graph's base name, e.g. {@code decoder_model_merged_q4.onnx}. */
    public String fileSuffix() {
        return fileSuffix;
    }
}
