package dev.medgemmafhir.engine.convert;

import java.util.Locale;

/**
 * What {@code models convert} produces.
 *
 * @param dtype     {@code fp32} or {@code q4} (MatMulNBits 4-bit blocks of 32 for every linear layer, fp32 activations)
 * @param attention {@code fused} (ONNX Runtime's GroupQueryAttention, rotary and simplified-norm contrib ops, last-position
 *                  logits; the default) or {@code standard} (default-domain ops, any runtime)
 * @param adapter   a PEFT LoRA adapter folder to merge, or null
 */
public record ConversionOptions(String dtype, String attention, java.nio.file.Path adapter) {

    public static final String FP32 = "fp32";
    public static final String Q4 = "q4";
    public static final String STANDARD = "standard";
    public static final String FUSED = "fused";
    /** What {@code models convert} and {@code models pull --convert} write unless told otherwise. */
    public static final String DEFAULT_ATTENTION = FUSED;

    public ConversionOptions {
        dtype = dtype.toLowerCase(Locale.ROOT);
        attention = attention.toLowerCase(Locale.ROOT);
        switch (dtype) {
            case FP32, Q4 -> {
            }
            case "fp16", "q4f16" -> throw new ConversionException("--dtype " + dtype + " is refused: Gemma 3's activations overflow"
                    + " float16 (NaN or empty output), and this converter does not yet make them overflow-safe; use q4 or fp32");
            default -> throw new ConversionException("--dtype " + dtype + " is unknown; use q4 or fp32");
        }
        switch (attention) {
            case STANDARD, FUSED -> {
            }
            default -> throw new ConversionException("--attention " + attention + " is unknown; use fused or standard");
        }
    }

    public ConversionOptions(String dtype, String attention) {
        this(dtype, attention, null);
    }

    boolean fused() {
        return attention.equals(FUSED);
    }

    boolean q4() {
        return dtype.equals(Q4);
    }

    /** The transformers.js file-name suffix of the variant, e.g. {@code _q4}. */
    String suffix() {
        return q4() ? "_q4" : "";
    }
}
