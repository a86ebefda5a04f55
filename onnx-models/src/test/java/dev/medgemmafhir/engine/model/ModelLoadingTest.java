package dev.medgemmafhir.engine.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model directories in each layout load; broken ones fail at load with the file and the problem. */
class ModelLoadingTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    @Test
    void eachLayoutLoadsWithItsVariantsAndTheBestOneByDefault() {
        ForgedModel text = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4, WeightVariant.FP32), tmp.resolve("text"));
        try (MedGemmaModel m = MedGemmaModel.load(text.dir())) {
            assertEquals(Layout.TRANSFORMERS_JS_TEXT, m.layout());
            assertEquals("fp32", m.variant());
            assertEquals(java.util.List.of(Variant.FP32, Variant.Q4), m.directory().variants());
            assertEquals(text.dims().maxPositions(), m.contextLength());
        }
        ForgedModel q4 = ModelForge.forge(ForgeSpec.imageText().variants(WeightVariant.Q4), tmp.resolve("image-q4"));
        try (MedGemmaModel m = MedGemmaModel.load(q4.dir())) {
            assertEquals(Layout.TRANSFORMERS_JS_IMAGE_TEXT, m.layout());
            assertEquals("q4", m.variant());
            assertTrue(m.acceptsImages());
            assertEquals(3, m.graphs().size());
        }
        ForgedModel genai = ModelForge.forge(ForgeSpec.genai(), tmp.resolve("genai"));
        try (MedGemmaModel m = MedGemmaModel.load(genai.dir())) {
            assertEquals(Layout.GENAI, m.layout());
            assertEquals(5, m.generate(GenerationRequest.of(null, "Hello", GenerationParams.greedy(5))).generatedTokenIds().length);
        }
    }

    @Test
    void identityNamesTheVariantAndADigestOfItsWeights() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.FP32, WeightVariant.Q4), tmp.resolve("medgemma-tiny"));
        String fp32;
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), "fp32", RuntimeOptions.defaults())) {
            assertEquals("medgemma-tiny", m.identity().modelId());
            assertEquals("fp32", m.identity().variant());
            assertEquals("gemma3_text", m.identity().modelType());
            fp32 = m.identity().digest();
            assertTrue(fp32.matches("sha256:[0-9a-f]{64}"), fp32);
        }
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), "fp32", RuntimeOptions.defaults())) {
            assertEquals(fp32, m.identity().digest());
        }
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), "q4", RuntimeOptions.defaults())) {
            assertNotEquals(fp32, m.identity().digest());
        }
    }

    @Test
    void huggingFaceCachePathsGiveTheRepositoryAndRevision() {
        Path snapshot = tmp.resolve("models--google--medgemma-4b-it/snapshots/0123abcd");
        ModelForge.forge(ForgeSpec.textOnly(), snapshot);
        try (MedGemmaModel m = MedGemmaModel.load(snapshot)) {
            assertEquals("google/medgemma-4b-it", m.identity().modelId());
            assertEquals("0123abcd", m.identity().revision().orElseThrow());
        }
    }

    @Test
    void cudaRequestedWithoutAGpuRunsOnCpu() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("cuda"));
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), null, RuntimeOptions.defaults().withExecutionProvider(ExecutionProvider.CUDA))) {
            if (!ai.onnxruntime.OrtEnvironment.getAvailableProviders().contains(ai.onnxruntime.OrtProvider.CUDA)) {
                assertEquals(ExecutionProvider.CPU, m.executionProvider());
                assertEquals("CPU", m.generate(GenerationRequest.of(null, "Hi", GenerationParams.greedy(2))).executionProvider());
            }
        }
    }

    @Test
    void missingFilesAreNamed() throws IOException {
        Files.createDirectories(tmp.resolve("empty"));
        assertLoadFails(tmp.resolve("empty"), null, "tokenizer.json", "missing file");
        assertLoadFails(tmp.resolve("nowhere"), null, "nowhere", "not a directory");

        ForgedModel text = forge(ForgeSpec.textOnly(), "no-config", dir -> delete(dir.resolve("config.json")));
        assertLoadFails(text.dir(), null, "config.json", "missing file");

        ForgedModel image = forge(ForgeSpec.imageText(), "no-vision", dir -> delete(dir.resolve("onnx/vision_encoder.onnx")));
        assertLoadFails(image.dir(), null, "vision_encoder.onnx", "missing file");

        ForgedModel external = forge(ForgeSpec.textOnly().externalData(true), "no-data", dir -> delete(dir.resolve("onnx/model.onnx_data")));
        assertLoadFails(external.dir(), null, "model.onnx", "ONNX Runtime cannot load");
    }

    @Test
    void variantsThatAreNotThereAreRefusedListingThoseThatAre() {
        ForgedModel text = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("fp32-only"));
        assertLoadFails(text.dir(), "q4", "model_q4.onnx", "present: fp32");
        assertLoadFails(text.dir(), "q3", "unknown variant", "q4f16");
    }

    @Test
    void configsThatDisagreeWithTheGraphAreRefused() {
        ForgedModel layers = forge(ForgeSpec.textOnly(), "layers", dir -> editJson(dir.resolve("config.json"), c -> c.put("num_hidden_layers", 3)));
        assertLoadFails(layers.dir(), null, "model.onnx", "num_hidden_layers 3");

        ForgedModel heads = forge(ForgeSpec.textOnly(), "heads", dir -> editJson(dir.resolve("config.json"), c -> c.put("num_key_value_heads", 1)));
        assertLoadFails(heads.dir(), null, "model.onnx", "num_key_value_heads 1");

        ForgedModel imageToken = forge(ForgeSpec.imageText(), "image-token",
                dir -> editJson(dir.resolve("config.json"), c -> c.put("image_token_index", 5)));
        assertLoadFails(imageToken.dir(), null, "config.json", "image_token_index 5");

        ForgedModel imageSize = forge(ForgeSpec.imageText(), "image-size",
                dir -> editJson(dir.resolve("processor_config.json"), c -> c.put("image_seq_length", 7)));
        assertLoadFails(imageSize.dir(), null, "vision_encoder.onnx", "image_seq_length 7");

        ForgedModel broken = forge(ForgeSpec.textOnly(), "broken-json", dir -> write(dir.resolve("generation_config.json"), "{ not json"));
        assertLoadFails(broken.dir(), null, "generation_config.json", "not valid JSON");
    }

    @Test
    void aCorruptGraphIsNamed() {
        ForgedModel corrupt = forge(ForgeSpec.textOnly(), "corrupt", dir -> write(dir.resolve("onnx/model.onnx"), "garbage"));
        assertLoadFails(corrupt.dir(), null, "model.onnx", "ONNX Runtime cannot load");
    }

    private ForgedModel forge(ForgeSpec spec, String name, Consumer<Path> damage) {
        ForgedModel m = ModelForge.forge(spec, tmp.resolve(name));
        damage.accept(m.dir());
        return m;
    }

    private static void assertLoadFails(Path dir, String variant, String... fragments) {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> MedGemmaModel.load(dir, variant, RuntimeOptions.defaults()).close());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "'" + f + "' not in: " + e.getMessage());
        }
    }

    private static void editJson(Path file, Consumer<ObjectNode> edit) {
        try {
            ObjectNode node = (ObjectNode) JSON.readTree(file.toFile());
            edit.accept(node);
            JSON.writeValue(file.toFile(), node);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void delete(Path p) {
        try {
            Files.delete(p);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void write(Path p, String s) {
        try {
            Files.writeString(p, s);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
