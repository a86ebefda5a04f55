package dev.medgemmafhir.engine.forge;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;

/**
 * What to forge: a layout, its weight variants, sizes and a seed. Immutable; each setter
 * returns a copy, so a shared base spec can be specialised per test:
 * {@code ForgeSpec.imageText().variants(FP32, Q4).seed(7)}.
 */
public final class ForgeSpec {

    private final ModelLayout layout;
    private final List<WeightVariant> variants;
    private final long seed;
    private final ForgeDims dims;
    private final boolean externalData;
    private final boolean numLogitsToKeep;
    private final double positionJitter;
    private final int q4AccuracyLevel;

    private ForgeSpec(ModelLayout layout, List<WeightVariant> variants, long seed, ForgeDims dims,
                      boolean externalData, boolean numLogitsToKeep, double positionJitter, int q4AccuracyLevel) {
        this.layout = Objects.requireNonNull(layout);
        this.variants = List.copyOf(variants);
        this.seed = seed;
        this.dims = Objects.requireNonNull(dims);
        this.externalData = externalData;
        this.numLogitsToKeep = numLogitsToKeep;
        this.positionJitter = positionJitter;
        this.q4AccuracyLevel = q4AccuracyLevel;
        if (this.variants.isEmpty()) {
            throw new IllegalArgumentException("at least one weight variant is needed");
        }
        if (layout == ModelLayout.GENAI && this.variants.size() != 1) {
            // An onnxruntime-genai directory holds exactly one build (one model.onnx).
            throw new IllegalArgumentException("the genai layout holds exactly one variant, got " + this.variants);
        }
    }

    private static ForgeSpec of(ModelLayout layout) {
        return new ForgeSpec(layout, List.of(WeightVariant.FP32), 42L, ForgeDims.tiny(), false, false, 0.5, 0);
    }

    /** Layout A, fp32, seed 42, {@link ForgeDims#tiny()}. */
    public static ForgeSpec imageText() {
        return of(ModelLayout.IMAGE_TEXT);
    }

    /** Layout B, fp32, seed 42, {@link ForgeDims#tiny()}. */
    public static ForgeSpec textOnly() {
        return of(ModelLayout.TEXT_ONLY);
    }

    /** Layout C, fp32, seed 42, {@link ForgeDims#tiny()}. */
    public static ForgeSpec genai() {
        return of(ModelLayout.GENAI);
    }

    /** The weight variants to write, in order; duplicates are dropped. */
    public ForgeSpec variants(WeightVariant... newVariants) {
        List<WeightVariant> distinct = new ArrayList<>(new LinkedHashSet<>(List.of(newVariants)));
        return new ForgeSpec(layout, distinct, seed, dims, externalData, numLogitsToKeep, positionJitter, q4AccuracyLevel);
    }

    /** Seed of every random weight; the same seed and dims give byte-identical graphs. */
    public ForgeSpec seed(long newSeed) {
        return new ForgeSpec(layout, variants, newSeed, dims, externalData, numLogitsToKeep, positionJitter, q4AccuracyLevel);
    }

    public ForgeSpec dims(ForgeDims newDims) {
        return new ForgeSpec(layout, variants, seed, newDims, externalData, numLogitsToKeep, positionJitter, q4AccuracyLevel);
    }

    /**
     * Write initializers of 1 KiB and more to a data file beside each graph ({@code X.onnx_data};
     * {@code model.onnx.data} in the genai layout), as large real exports do.
     */
    public ForgeSpec externalData(boolean enabled) {
        return new ForgeSpec(layout, variants, seed, dims, enabled, numLogitsToKeep, positionJitter, q4AccuracyLevel);
    }

    /** Declare the optional int64 scalar input {@code num_logits_to_keep} on the decoder (0 keeps all positions). */
    public ForgeSpec numLogitsToKeep(boolean declared) {
        return new ForgeSpec(layout, variants, seed, dims, externalData, declared, positionJitter, q4AccuracyLevel);
    }

    /**
     * Random offset, in radians, added per (position, frequency) to the RoPE angle tables. Textbook
     * RoPE (0) only sees relative offsets, so an engine that numbers positions from 0 instead of 1
     * would agree with any reference; the default 0.5 makes absolute positions matter too, so
     * such a mistake changes the tokens.
     */
    public ForgeSpec positionJitter(double radians) {
        return new ForgeSpec(layout, variants, seed, dims, externalData, numLogitsToKeep, radians, q4AccuracyLevel);
    }

    /** The {@code accuracy_level} attribute of every MatMulNBits (0: fp32 compute, 4: int8 compute). */
    public ForgeSpec q4AccuracyLevel(int level) {
        return new ForgeSpec(layout, variants, seed, dims, externalData, numLogitsToKeep, positionJitter, level);
    }

    public ModelLayout layout() {
        return layout;
    }

    public List<WeightVariant> variants() {
        return variants;
    }

    public long seed() {
        return seed;
    }

    public ForgeDims dims() {
        return dims;
    }

    public boolean externalData() {
        return externalData;
    }

    public boolean numLogitsToKeep() {
        return numLogitsToKeep;
    }

    public double positionJitter() {
        return positionJitter;
    }

    public int q4AccuracyLevel() {
        return q4AccuracyLevel;
    }

    @Override
    public String toString() {
        return "ForgeSpec[" + layout + " " + variants + " seed=" + seed + " " + dims
                + (externalData ? " external-data" : "") + (numLogitsToKeep ? " num_logits_to_keep" : "") + "]";
    }
}
