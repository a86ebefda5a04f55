package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Locale;

/**
 * What {@code models convert} produces.
 *
 * @param dtype     {@code fp32} or {@code q4} (MatMulNBits 4-bit blocks for every linear layer and the head, fp32 activations)
 * @param attention {@code fused} (ONNX Runtime's GroupQueryAttention, rotary and simplified-norm contrib ops, last-position
 *                  logits; the default) or {@code standard} (default-domain ops, any runtime)
 * @param adapter   a PEFT LoRA adapter folder to merge, or null
 * @param q4Format  the 4-bit block format: {@link Q4Format#DEFAULT} when null in q4; null (and refused otherwise) in fp32
 */
public record ConversionOptions(String dtype, String attention, java.nio.file.Path adapter, Q4Format q4Format) {

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
            case FP32 -> {
                if (q4Format != null) {
                    throw new ConversionException("--q4-block-size and --q4-symmetric apply only to --dtype q4; fp32 weights have no blocks");
                }
            }
            case Q4 -> {
                if (q4Format == null) {
                    q4Format = Q4Format.DEFAULT;
                }
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

    public ConversionOptions(String dtype, String attention, java.nio.file.Path adapter) {
        this(dtype, attention, adapter, null);
    }

    public ConversionOptions(String dtype, String attention) {
        this(dtype, attention, null, null);
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

    /** Writes these options into conversion.json's {@code options} object. */
    void record(ObjectNode options) {
        options.put("dtype", dtype);
        options.put("attention", attention);
        if (q4Format != null) {
            options.put("q4BlockSize", q4Format.blockSize());
            options.put("q4Symmetric", q4Format.symmetric());
        }
    }

    /**
     * Whether conversion.json's {@code options} say a directory was converted with these options. Records written
     * before the q4 block options existed hold blocks of 32 with zero points, {@link Q4Format#DEFAULT}.
     */
    public boolean sameAs(JsonNode recorded) {
        if (!dtype.equals(recorded.path("dtype").asText()) || !attention.equals(recorded.path("attention").asText())) {
            return false;
        }
        return q4Format == null || (q4Format.blockSize() == recorded.path("q4BlockSize").asInt(Q4Format.DEFAULT.blockSize())
                && q4Format.symmetric() == recorded.path("q4Symmetric").asBoolean(Q4Format.DEFAULT.symmetric()));
    }
}
