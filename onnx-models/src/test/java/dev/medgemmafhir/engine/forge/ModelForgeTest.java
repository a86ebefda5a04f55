package dev.medgemmafhir.engine.forge;

import ai.onnx.proto.OnnxMl;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.medgemmafhir.engine.forge.WeightVariant.FP32;
import static dev.medgemmafhir.engine.forge.WeightVariant.Q4;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Forged directories look like the real exports: files, graph signatures, configs, quantization layout. */
class ModelForgeTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final OrtEnvironment ENV = OrtEnvironment.getEnvironment();

    @TempDir
    Path dir;

    @Test
    void imageTextLayoutHasTheTransformersJsFileNamesPerVariant() {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText().variants(FP32, Q4), dir);
        for (String file : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "preprocessor_config.json", "processor_config.json", "chat_template.jinja",
                "onnx/embed_tokens.onnx", "onnx/vision_encoder.onnx", "onnx/decoder_model_merged.onnx",
                "onnx/embed_tokens_q4.onnx", "onnx/vision_encoder_q4.onnx", "onnx/decoder_model_merged_q4.onnx")) {
            assertTrue(Files.isRegularFile(dir.resolve(file)), file);
        }
        assertEquals(6, model.graphFiles().size());
        assertFalse(Files.exists(dir.resolve("onnx/decoder_model_merged.onnx_data")), "inline weights by default");
    }

    @Test
    void decoderSignatureMatchesTheRealExport() throws Exception {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText(), dir);
        ForgeDims d = model.dims();
        try (OrtSession decoder = ENV.createSession(model.decoderFile(FP32).toString())) {
            Map<String, NodeInfo> in = decoder.getInputInfo();
            assertSignature(in.get("inputs_embeds"), OnnxJavaType.FLOAT, new long[] {-1, -1, d.hidden()}, "batch_size", "sequence_length", "");
            assertSignature(in.get("attention_mask"), OnnxJavaType.INT64, new long[] {-1, -1}, "batch_size", "total_sequence_length");
            assertSignature(in.get("position_ids"), OnnxJavaType.INT64, new long[] {-1, -1}, "batch_size", "sequence_length");
            Map<String, NodeInfo> out = decoder.getOutputInfo();
            assertSignature(out.get("logits"), OnnxJavaType.FLOAT, new long[] {-1, -1, d.vocab()}, "batch_size", "sequence_length", "");
            for (int i = 0; i < d.layers(); i++) {
                for (String kind : List.of("key", "value")) {
                    assertSignature(in.get("past_key_values." + i + "." + kind), OnnxJavaType.FLOAT,
                            new long[] {-1, d.kvHeads(), -1, d.headDim()}, "batch_size", "", "past_sequence_length", "");
                    assertSignature(out.get("present." + i + "." + kind), OnnxJavaType.FLOAT,
                            new long[] {-1, d.kvHeads(), -1, d.headDim()}, "batch_size", "", "total_sequence_length", "");
                }
            }
            assertEquals(3 + 2 * d.layers(), in.size(), "no inputs beyond the real export's: " + in.keySet());
            assertEquals(1 + 2 * d.layers(), out.size());
        }
        try (OrtSession embed = ENV.createSession(model.embedTokensFile(FP32).toString());
             OrtSession vision = ENV.createSession(model.visionEncoderFile(FP32).toString())) {
            assertSignature(embed.getInputInfo().get("input_ids"), OnnxJavaType.INT64, new long[] {-1, -1}, "batch_size", "sequence_length");
            assertSignature(embed.getOutputInfo().get("inputs_embeds"), OnnxJavaType.FLOAT, new long[] {-1, -1, d.hidden()},
                    "batch_size", "sequence_length", "");
            assertSignature(vision.getInputInfo().get("pixel_values"), OnnxJavaType.FLOAT,
                    new long[] {-1, 3, d.imageSize(), d.imageSize()}, "batch_size", "", "", "");
            assertSignature(vision.getOutputInfo().get("image_features"), OnnxJavaType.FLOAT,
                    new long[] {-1, d.tokensPerImage(), d.hidden()}, "batch_size", "", "");
        }
    }

    @Test
    void textOnlyDecoderTakesInputIdsAndAgreesWithEmbedTokensPlusImageTextDecoder() throws Exception {
        ForgedModel text = ModelForge.forge(ForgeSpec.textOnly().seed(5), dir.resolve("b"));
        ForgedModel image = ModelForge.forge(ForgeSpec.imageText().seed(5), dir.resolve("a"));
        assertTrue(Files.isRegularFile(dir.resolve("b/onnx/model.onnx")));
        long[] ids = {2, 260, 300, 301, 302, 263};
        float[] viaText;
        try (DecoderProbe probe = new DecoderProbe(text.decoderFile(FP32), text.dims())) {
            viaText = probe.prefill(ids).lastLogits();
        }
        // Same seed, same weights: embed_tokens -> decoder_model_merged is the text decoder split in two,
        // so an engine's layout-A text path can be checked against layout B.
        float[] viaEmbeds = runImageTextPrefill(image, ids, null, -1);
        assertTrue(DecoderProbe.maxAbsDiff(viaText, viaEmbeds) < 1e-4f);
    }

    @Test
    void imageFeaturesReachTheLogitsThroughTheImageTokens() throws Exception {
        ForgedModel image = ModelForge.forge(ForgeSpec.imageText(), dir);
        SpecialTokens t = image.specialTokens();
        long[] ids = new long[3 + image.tokensPerImage() + 2];
        ids[0] = t.bos();
        ids[1] = t.startOfImage();
        for (int i = 0; i < image.tokensPerImage(); i++) {
            ids[2 + i] = t.imageSoftToken();
        }
        ids[2 + image.tokensPerImage()] = t.endOfImage();
        ids[3 + image.tokensPerImage()] = 300;
        ids[4 + image.tokensPerImage()] = 301;
        float[] grey = runImageTextPrefill(image, ids, pixels(image, 0), 2);
        float[] noise = runImageTextPrefill(image, ids, pixels(image, 1), 2);
        assertTrue(DecoderProbe.maxAbsDiff(grey, noise) > 0.05f, "the image does not influence the logits");
    }

    @Test
    void eachImageTokenSeesOnlyItsOwnPatchInRowMajorOrder() throws Exception {
        ForgedModel image = ModelForge.forge(ForgeSpec.imageText(), dir);
        int size = image.imageSize();
        int patch = image.dims().patchSize();
        float[] base = pixels(image, 1);
        float[] changed = base.clone();
        // One pixel in patch row 1, column 2 of the green channel: only token 1 * grid + 2 may move.
        int y = patch + 3;
        int x = 2 * patch + 5;
        changed[size * size + y * size + x] += 1f;
        float[][] before = visionFeatures(image, base);
        float[][] after = visionFeatures(image, changed);
        int grid = size / patch;
        for (int token = 0; token < image.tokensPerImage(); token++) {
            float diff = DecoderProbe.maxAbsDiff(before[token], after[token]);
            if (token == grid + 2) {
                assertTrue(diff > 1e-3f, "token of the changed patch did not move");
            } else {
                assertEquals(0f, diff, 1e-6f, "token " + token + " moved");
            }
        }
    }

    @Test
    void configsCarryTheForgedIdsAndSizes() throws IOException {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText(), dir);
        SpecialTokens t = model.specialTokens();
        ForgeDims d = model.dims();
        JsonNode config = read("config.json");
        assertEquals("gemma3", config.path("model_type").asText());
        assertEquals(t.imageSoftToken(), config.path("image_token_index").asInt());
        assertEquals(t.startOfImage(), config.path("boi_token_index").asInt());
        assertEquals(t.endOfImage(), config.path("eoi_token_index").asInt());
        assertEquals(List.of(t.eos(), t.endOfTurn()), ints(config.path("eos_token_id")));
        JsonNode text = config.path("text_config");
        assertEquals(d.hidden(), text.path("hidden_size").asInt());
        assertEquals(d.layers(), text.path("num_hidden_layers").asInt());
        assertEquals(d.kvHeads(), text.path("num_key_value_heads").asInt());
        assertEquals(d.headDim(), text.path("head_dim").asInt());
        assertEquals(d.vocab(), text.path("vocab_size").asInt());

        JsonNode generation = read("generation_config.json");
        assertEquals(List.of(t.eos(), t.endOfTurn()), ints(generation.path("eos_token_id")));
        assertTrue(generation.path("do_sample").asBoolean());
        assertEquals(64, generation.path("top_k").asInt());

        assertEquals(d.tokensPerImage(), read("processor_config.json").path("image_seq_length").asInt());
        JsonNode preprocessor = read("preprocessor_config.json");
        assertEquals(d.imageSize(), preprocessor.path("size").path("height").asInt());
        assertEquals(2, preprocessor.path("resample").asInt());
        assertEquals(1 / 255.0, preprocessor.path("rescale_factor").asDouble(), 1e-12);

        JsonNode tokenizerConfig = read("tokenizer_config.json");
        assertEquals(GemmaChatTemplate.TEXT, tokenizerConfig.path("chat_template").asText());
        assertEquals("<image_soft_token>", tokenizerConfig.path("image_token").asText());
        assertEquals(GemmaChatTemplate.TEXT, Files.readString(dir.resolve("chat_template.jinja")));
    }

    @Test
    void q4GraphsUseMatMulNBitsWithOnnxRuntimesInputLayout() throws IOException {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText().variants(FP32, Q4).q4AccuracyLevel(4), dir);
        OnnxMl.ModelProto q4 = parse(model.decoderFile(Q4));
        Map<String, OnnxMl.TensorProto> initializers = new HashMap<>();
        q4.getGraph().getInitializerList().forEach(i -> initializers.put(i.getName(), i));
        List<String> opsets = new ArrayList<>();
        q4.getOpsetImportList().forEach(o -> opsets.add(o.getDomain() + ":" + o.getVersion()));
        assertEquals(List.of(":17", "com.microsoft:1"), opsets);

        int quantized = 0;
        for (OnnxMl.NodeProto node : q4.getGraph().getNodeList()) {
            if (node.getOpType().equals("MatMul")) {
                assertFalse(initializers.containsKey(node.getInput(1)), "a weight MatMul stayed fp32: " + node.getInput(1));
            }
            if (!node.getOpType().equals("MatMulNBits")) {
                continue;
            }
            quantized++;
            assertEquals("com.microsoft", node.getDomain());
            Map<String, Long> attributes = new HashMap<>();
            node.getAttributeList().forEach(a -> attributes.put(a.getName(), a.getI()));
            long k = attributes.get("K");
            long n = attributes.get("N");
            long blocks = (k + 31) / 32;
            assertEquals(4L, attributes.get("bits"));
            assertEquals(32L, attributes.get("block_size"));
            assertEquals(4L, attributes.get("accuracy_level"));
            assertEquals(List.of(n, blocks, 16L), initializers.get(node.getInput(1)).getDimsList());
            assertEquals(OnnxMl.TensorProto.DataType.UINT8_VALUE, initializers.get(node.getInput(1)).getDataType());
            assertEquals(List.of(n * blocks), initializers.get(node.getInput(2)).getDimsList());
            assertEquals(OnnxMl.TensorProto.DataType.FLOAT_VALUE, initializers.get(node.getInput(2)).getDataType());
            assertEquals(List.of(n * ((blocks + 1) / 2)), initializers.get(node.getInput(3)).getDimsList());
        }
        // q, k, v, o, gate, up, down per layer, and the head.
        assertEquals(7 * model.dims().layers() + 1, quantized);
        assertTrue(parse(model.decoderFile(FP32)).getOpsetImportList().stream().noneMatch(o -> o.getDomain().equals("com.microsoft")));
    }

    @Test
    void theSameSeedForgesIdenticalGraphsAndAnotherSeedDifferentOnes() throws IOException {
        ForgedModel first = ModelForge.forge(ForgeSpec.textOnly().variants(Q4).seed(3), dir.resolve("first"));
        ForgedModel again = ModelForge.forge(ForgeSpec.textOnly().variants(Q4).seed(3), dir.resolve("again"));
        ForgedModel other = ModelForge.forge(ForgeSpec.textOnly().variants(Q4).seed(4), dir.resolve("other"));
        byte[] firstBytes = Files.readAllBytes(first.decoderFile(Q4));
        assertArrayEquals(firstBytes, Files.readAllBytes(again.decoderFile(Q4)));
        assertFalse(Arrays.equals(firstBytes, Files.readAllBytes(other.decoderFile(Q4))));
        assertEquals(Files.readString(first.dir().resolve("tokenizer.json")), Files.readString(other.dir().resolve("tokenizer.json")),
                "the vocabulary does not depend on the seed");
    }

    @Test
    void externalDataKeepsWeightsBesideTheGraphAndRunsTheSame() throws Exception {
        ForgedModel inline = ModelForge.forge(ForgeSpec.textOnly().variants(FP32, Q4), dir.resolve("inline"));
        ForgedModel external = ModelForge.forge(ForgeSpec.textOnly().variants(FP32, Q4).externalData(true), dir.resolve("external"));
        long[] ids = {2, 260, 300, 301};
        for (WeightVariant v : List.of(FP32, Q4)) {
            Path data = ForgedModel.externalDataFile(external.decoderFile(v), ModelLayout.TEXT_ONLY);
            assertEquals("model" + v.fileSuffix() + ".onnx_data", data.getFileName().toString());
            assertTrue(Files.size(data) > Files.size(external.decoderFile(v)), "weights should live in " + data);
            try (DecoderProbe a = new DecoderProbe(inline.decoderFile(v), inline.dims());
                 DecoderProbe b = new DecoderProbe(external.decoderFile(v), external.dims())) {
                assertArrayEquals(a.prefill(ids).lastLogits(), b.prefill(ids).lastLogits());
            }
        }
    }

    @Test
    void genaiConfigNamesTheGraphAndEveryInputAndOutput() throws Exception {
        ForgedModel model = ModelForge.forge(ForgeSpec.genai().variants(Q4).externalData(true), dir);
        JsonNode genai = read("genai_config.json");
        JsonNode decoder = genai.path("model").path("decoder");
        assertEquals("model.onnx", decoder.path("filename").asText());
        assertTrue(Files.isRegularFile(dir.resolve("model.onnx.data")), "genai names its external data model.onnx.data");
        ForgeDims d = model.dims();
        assertEquals(d.headDim(), decoder.path("head_size").asInt());
        assertEquals(d.hidden(), decoder.path("hidden_size").asInt());
        assertEquals(d.heads(), decoder.path("num_attention_heads").asInt());
        assertEquals(d.kvHeads(), decoder.path("num_key_value_heads").asInt());
        assertEquals(d.layers(), decoder.path("num_hidden_layers").asInt());
        assertEquals(d.vocab(), genai.path("model").path("vocab_size").asInt());
        assertEquals(d.maxPositions(), genai.path("model").path("context_length").asInt());
        assertEquals(model.specialTokens().eosTokenIds(), ints(genai.path("model").path("eos_token_id")));
        assertFalse(genai.path("search").path("do_sample").asBoolean());

        try (OrtSession session = ENV.createSession(dir.resolve(decoder.path("filename").asText()).toString())) {
            JsonNode inputs = decoder.path("inputs");
            JsonNode outputs = decoder.path("outputs");
            List<String> expectedInputs = new ArrayList<>(List.of(inputs.path("input_ids").asText(),
                    inputs.path("attention_mask").asText(), inputs.path("position_ids").asText()));
            List<String> expectedOutputs = new ArrayList<>(List.of(outputs.path("logits").asText()));
            for (int i = 0; i < d.layers(); i++) {
                expectedInputs.add(String.format(inputs.path("past_key_names").asText(), i));
                expectedInputs.add(String.format(inputs.path("past_value_names").asText(), i));
                expectedOutputs.add(String.format(outputs.path("present_key_names").asText(), i));
                expectedOutputs.add(String.format(outputs.path("present_value_names").asText(), i));
            }
            assertEquals(new HashSet<>(expectedInputs), session.getInputNames());
            assertEquals(new HashSet<>(expectedOutputs), session.getOutputNames());
        }
        assertThrows(IllegalArgumentException.class, () -> ForgeSpec.genai().variants(FP32, Q4),
                "a genai directory holds one build");
    }

    // --- helpers ---------------------------------------------------------------------------

    private JsonNode read(String file) throws IOException {
        return JSON.readTree(dir.resolve(file).toFile());
    }

    private static List<Integer> ints(JsonNode array) {
        List<Integer> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asInt()));
        return out;
    }

    private static OnnxMl.ModelProto parse(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return OnnxMl.ModelProto.parseFrom(in);
        }
    }

    private static void assertSignature(NodeInfo info, OnnxJavaType type, long[] shape, String... dimNames) {
        TensorInfo tensor = (TensorInfo) info.getInfo();
        assertEquals(type, tensor.type, info.getName());
        assertArrayEquals(shape, tensor.getShape(), info.getName());
        assertArrayEquals(dimNames, tensor.getDimensionNames(), info.getName());
    }

    /** Pixels in [-1, 1] as the processor would produce: seed 0 gives flat grey, others noise. */
    private static float[] pixels(ForgedModel model, long seed) {
        float[] p = new float[3 * model.imageSize() * model.imageSize()];
        if (seed != 0) {
            Random random = new Random(seed);
            for (int i = 0; i < p.length; i++) {
                p[i] = random.nextFloat() * 2 - 1;
            }
        }
        return p;
    }

    private static float[][] visionFeatures(ForgedModel model, float[] pixels) throws OrtException {
        int size = model.imageSize();
        try (OrtSession vision = ENV.createSession(model.visionEncoderFile(FP32).toString());
             OnnxTensor input = OnnxTensor.createTensor(ENV, FloatBuffer.wrap(pixels), new long[] {1, 3, size, size});
             OrtSession.Result result = vision.run(Map.of("pixel_values", input))) {
            return ((float[][][]) result.get(0).getValue())[0];
        }
    }

    /**
     * Layout A prefill by hand: embed_tokens, image features written over the rows of
     * {@code <image_soft_token>} starting at {@code firstImageRow} (pixels null: none), decoder.
     */
    private static float[] runImageTextPrefill(ForgedModel model, long[] ids, float[] pixels, int firstImageRow) throws OrtException {
        ForgeDims d = model.dims();
        float[][] embeds;
        try (OrtSession embed = ENV.createSession(model.embedTokensFile(FP32).toString());
             OnnxTensor input = OnnxTensor.createTensor(ENV, LongBuffer.wrap(ids), new long[] {1, ids.length});
             OrtSession.Result result = embed.run(Map.of("input_ids", input))) {
            embeds = ((float[][][]) result.get(0).getValue())[0];
        }
        if (pixels != null) {
            float[][] features = visionFeatures(model, pixels);
            for (int i = 0; i < features.length; i++) {
                embeds[firstImageRow + i] = features[i];
            }
        }
        float[] flat = new float[ids.length * d.hidden()];
        for (int i = 0; i < ids.length; i++) {
            System.arraycopy(embeds[i], 0, flat, i * d.hidden(), d.hidden());
        }
        Map<String, OnnxTensor> inputs = new HashMap<>();
        try (OrtSession decoder = ENV.createSession(model.decoderFile(FP32).toString())) {
            inputs.put("inputs_embeds", OnnxTensor.createTensor(ENV, FloatBuffer.wrap(flat), new long[] {1, ids.length, d.hidden()}));
            inputs.put("attention_mask", OnnxTensor.createTensor(ENV, LongBuffer.wrap(DecoderProbe.ones(ids.length)), new long[] {1, ids.length}));
            inputs.put("position_ids", OnnxTensor.createTensor(ENV, LongBuffer.wrap(DecoderProbe.range(1, ids.length)), new long[] {1, ids.length}));
            for (int i = 0; i < d.layers(); i++) {
                for (String kind : List.of("key", "value")) {
                    inputs.put("past_key_values." + i + "." + kind,
                            OnnxTensor.createTensor(ENV, FloatBuffer.allocate(0), new long[] {1, d.kvHeads(), 0, d.headDim()}));
                }
            }
            try (OrtSession.Result result = decoder.run(inputs)) {
                float[][] logits = ((float[][][]) result.get("logits").orElseThrow().getValue())[0];
                return logits[logits.length - 1];
            }
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }
}
