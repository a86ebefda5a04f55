package dev.medgemmafhir.engine.model;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Quantization variants, named as transformers.js names its {@code dtype}s, with the file-name
 * suffix each one uses. Declaration order is the default preference: variants that keep fp32
 * activations first (Gemma 3 overflows in fp16 activations), higher-precision weights first.
 */
public enum Variant {
    FP32("fp32", "", true),
    QUANTIZED("quantized", "_quantized", true),
    INT8("int8", "_int8", true),
    UINT8("uint8", "_uint8", true),
    Q4("q4", "_q4", true),
    BNB4("bnb4", "_bnb4", true),
    FP16("fp16", "_fp16", false),
    Q4F16("q4f16", "_q4f16", false);

    private final String id;
    private final String suffix;
    private final boolean fp32Activations;

    Variant(String id, String suffix, boolean fp32Activations) {
        this.id = id;
        this.suffix = suffix;
        this.fp32Activations = fp32Activations;
    }

    /** The name users type ({@code --dtype q4}). */
    public String id() {
        return id;
    }

    /** What follows the graph's base name in its file name ({@code ""} for fp32). */
    public String suffix() {
        return suffix;
    }

    public boolean hasFp32Activations() {
        return fp32Activations;
    }

    /** The graph file name of {@code base} in this variant, e.g. {@code model_q4.onnx}. */
    public String fileName(String base) {
        return base + suffix + ".onnx";
    }

    /** Parses a user-supplied name ({@code q4}, {@code FP16}; {@code q8} is accepted for {@code quantized}). */
    public static Variant parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (n.equals("q8")) {
            return QUANTIZED;
        }
        for (Variant v : values()) {
            if (v.id.equals(n)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown variant '" + name + "'; known: " + names(List.of(values())));
    }

    /** The variant whose file name {@code fileName} is for graph {@code base}, or null. */
    public static Variant ofFile(String base, String fileName) {
        for (Variant v : values()) {
            if (v.fileName(base).equals(fileName)) {
                return v;
            }
        }
        return null;
    }

    static String names(List<Variant> variants) {
        return variants.stream().map(Variant::id).collect(Collectors.joining(", "));
    }

    @Override
    public String toString() {
        return id;
    }

    static List<Variant> preferenceOrder() {
        return Arrays.asList(values());
    }
}
