package dev.medgemmafhir.engine.forge;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Forges tiny random-weight MedGemma look-alike model directories for tests: the real exports'
 * file names, graph inputs/outputs, dtypes and symbolic dims, a Gemma-style tokenizer and the
 * JSON configs, all deterministic from the spec's seed. Other modules' tests use it through this
 * module's test-jar:
 * <pre>{@code
 * ForgedModel model = ModelForge.forge(ForgeSpec.imageText().variants(FP32, Q4).seed(7), tempDir);
 * }</pre>
 */
public final class ModelForge {

    private ModelForge() {
    }

    /**
     * Writes a model directory into {@code dir} (created if missing; existing forged files are
     * overwritten).
     */
    public static ForgedModel forge(ForgeSpec spec, Path dir) {
        try {
            return forgeChecked(spec, dir);
        } catch (IOException e) {
            throw new UncheckedIOException("forging " + spec + " into " + dir + " failed", e);
        }
    }

    private static ForgedModel forgeChecked(ForgeSpec spec, Path dir) throws IOException {
        Files.createDirectories(dir);
        ForgedTokenizer tokenizer = new ForgedTokenizer(spec.dims().vocab());
        new ModelConfigFiles(spec, tokenizer).writeAll(dir);
        ForgedModel model = new ForgedModel(dir, spec, tokenizer.specialTokens());

        ForgedWeights weights = new ForgedWeights(spec.seed(), spec.dims(), spec.positionJitter());
        for (WeightVariant variant : spec.variants()) {
            Path decoder = model.decoderFile(variant);
            Files.createDirectories(decoder.getParent());
            switch (spec.layout()) {
                case IMAGE_TEXT -> {
                    EmbedTokensGraph.write(model.embedTokensFile(variant), external(spec, model.embedTokensFile(variant)), weights);
                    VisionEncoderGraph.write(model.visionEncoderFile(variant), external(spec, model.visionEncoderFile(variant)),
                            weights, variant, spec.q4AccuracyLevel());
                    DecoderGraph.write(decoder, external(spec, decoder), weights, variant, true,
                            spec.numLogitsToKeep(), spec.q4AccuracyLevel());
                }
                case TEXT_ONLY, GENAI -> DecoderGraph.write(decoder, external(spec, decoder), weights, variant, false,
                        spec.numLogitsToKeep(), spec.q4AccuracyLevel());
            }
        }
        return model;
    }

    private static Path external(ForgeSpec spec, Path graphFile) throws IOException {
        Path data = ForgedModel.externalDataFile(graphFile, spec.layout());
        if (!spec.externalData()) {
            // A stale data file from an earlier forge into the same directory would mislead a loader.
            Files.deleteIfExists(data);
            return null;
        }
        return data;
    }
}
