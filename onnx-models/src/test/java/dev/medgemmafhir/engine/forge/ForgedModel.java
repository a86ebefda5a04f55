package dev.medgemmafhir.engine.forge;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A forged model directory and what a test needs to know about it without parsing its files.
 *
 * @param dir            the model directory (a Hugging Face snapshot look-alike)
 * @param spec           the spec it was forged from
 * @param specialTokens  ids of the Gemma special tokens in its vocabulary
 */
public record ForgedModel(Path dir, ForgeSpec spec, SpecialTokens specialTokens) {

    public ModelLayout layout() {
        return spec.layout();
    }

    public List<WeightVariant> variants() {
        return spec.variants();
    }

    public ForgeDims dims() {
        return spec.dims();
    }

    /** Logit columns, equal to the number of tokenizer ids. */
    public int vocabSize() {
        return spec.dims().vocab();
    }

    public int tokensPerImage() {
        return spec.dims().tokensPerImage();
    }

    public int imageSize() {
        return spec.dims().imageSize();
    }

    /** The decoder graph of a variant: {@code onnx/decoder_model_merged*.onnx}, {@code onnx/model*.onnx} or {@code model.onnx}. */
    public Path decoderFile(WeightVariant variant) {
        return switch (layout()) {
            case IMAGE_TEXT -> dir.resolve("onnx/decoder_model_merged" + variant.fileSuffix() + ".onnx");
            case TEXT_ONLY -> dir.resolve("onnx/model" + variant.fileSuffix() + ".onnx");
            case GENAI -> dir.resolve("model.onnx");
        };
    }

    /** Layout A's {@code onnx/embed_tokens*.onnx}; the table is fp32 in every variant. */
    public Path embedTokensFile(WeightVariant variant) {
        requireImageText();
        return dir.resolve("onnx/embed_tokens" + variant.fileSuffix() + ".onnx");
    }

    /** Layout A's {@code onnx/vision_encoder*.onnx}. */
    public Path visionEncoderFile(WeightVariant variant) {
        requireImageText();
        return dir.resolve("onnx/vision_encoder" + variant.fileSuffix() + ".onnx");
    }

    /** Every graph file written, all variants. */
    public List<Path> graphFiles() {
        List<Path> files = new ArrayList<>();
        for (WeightVariant v : variants()) {
            if (layout() == ModelLayout.IMAGE_TEXT) {
                files.add(embedTokensFile(v));
                files.add(visionEncoderFile(v));
            }
            files.add(decoderFile(v));
        }
        return files;
    }

    /** Where a graph's external weights live: {@code X.onnx_data} (transformers.js) or {@code model.onnx.data} (genai). */
    public static Path externalDataFile(Path graphFile, ModelLayout layout) {
        String name = graphFile.getFileName().toString();
        return graphFile.resolveSibling(layout == ModelLayout.GENAI ? name + ".data" : name + "_data");
    }

    private void requireImageText() {
        if (layout() != ModelLayout.IMAGE_TEXT) {
            throw new IllegalStateException("only the image+text layout has separate embedding and vision graphs, this is " + layout());
        }
    }
}
