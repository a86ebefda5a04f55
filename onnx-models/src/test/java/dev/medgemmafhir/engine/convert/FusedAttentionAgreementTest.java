package dev.medgemmafhir.engine.convert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.forge.GemmaReference;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.LOGIT_TOLERANCE;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.NEW_TOKENS;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.argmax;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.maxAbsDiff;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.boxed;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --attention fused} (GroupQueryAttention with the sliding window, RotaryEmbedding,
 * simplified norms, last-position logits) against {@code --attention standard} and the independent
 * plain-Java reference, on forged checkpoints of 7 layers with a window of 4 (shorter than every
 * prompt), text and image + text, fp32 and q4.
 *
 * <p>Tolerance: fused and standard graphs compute the same function with the same fp32 weights
 * (or the same 4-bit blocks, since both quantize with one quantizer); only the order of float
 * operations differs (one softmax kernel instead of MatMul/Add/Softmax, a fused norm). On these
 * logits (magnitude ~1-10) that moves the result by ~1e-6, so both are held to the converter's
 * bar against the reference, {@link ConverterAgreementTest#LOGIT_TOLERANCE} (1e-4): 100 times the
 * rounding, far below what any wrong mask, window, position or norm changes (> 1e-2).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FusedAttentionAgreementTest {

    @TempDir
    static Path temp;

    CheckpointForge.Forged text;
    CheckpointForge.Forged image;
    Path fp32Standard;
    Path fp32Fused;
    Path q4Standard;
    Path q4Fused;
    Path imageFused;
    List<int[]> prompts;

    @BeforeAll
    void convert() {
        text = CheckpointForge.forge(temp.resolve("text"), CheckpointForge.Shape.tiny(), false, CheckpointForge.Naming.RELEASED, 2, 11);
        fp32Standard = convert(text, "fp32", "standard");
        fp32Fused = convert(text, "fp32", "fused");
        q4Standard = convert(text, "q4", "standard");
        q4Fused = convert(text, "q4", "fused");
        image = CheckpointForge.forge(temp.resolve("image"), CheckpointForge.Shape.tiny(), true, CheckpointForge.Naming.NEWER, 1, 5);
        imageFused = convert(image, "fp32", "fused");
        prompts = ConverterAgreementTest.prompts(4, 29);
    }

    private static Path convert(CheckpointForge.Forged ck, String dtype, String attention) {
        return Converter.convert(ck.dir(), temp.resolve(ck.dir().getFileName() + "-" + dtype + "-" + attention),
                new ConversionOptions(dtype, attention), ConversionProgress.NONE).directory();
    }

    @Test
    void fusedFp32LogitsMatchTheReferenceAndTheStandardGraphAtEveryPosition() throws Exception {
        GemmaReference reference = new GemmaReference(text, true);
        CheckpointForge.Shape s = text.shape();
        double vsReference = 0;
        double vsStandard = 0;
        try (ConvertedGraphs fused = new ConvertedGraphs(fp32Fused, "", false, s.layers(), s.kvHeads(), s.headDim());
             ConvertedGraphs standard = new ConvertedGraphs(fp32Standard, "", false, s.layers(), s.kvHeads(), s.headDim())) {
            for (int[] prompt : prompts) {
                double[][] expected = reference.logits(prompt, -1, null);
                for (int length = 1; length <= prompt.length; length++) {
                    long[] prefix = Arrays.stream(prompt, 0, length).asLongStream().toArray();
                    float[] actual = fused.lastLogits(prefix, -1, null, false);
                    vsReference = Math.max(vsReference, maxAbsDiff(expected[length - 1], actual));
                    vsStandard = Math.max(vsStandard, maxAbsDiff(actual, standard.lastLogits(prefix, -1, null, false)));
                }
            }
        }
        System.out.printf("fused fp32: largest logit difference %.2e vs reference, %.2e vs standard%n", vsReference, vsStandard);
        assertTrue(vsReference < LOGIT_TOLERANCE, "fused vs reference " + vsReference);
        assertTrue(vsStandard < LOGIT_TOLERANCE, "fused vs standard " + vsStandard);
    }

    @Test
    void engineDecodesTheSameTokensOnFusedAndStandardGraphs() {
        GemmaReference reference = new GemmaReference(text, true);
        try (MedGemmaModel fused = MedGemmaModel.load(fp32Fused, "fp32", RuntimeOptions.defaults());
             MedGemmaModel standard = MedGemmaModel.load(fp32Standard, "fp32", RuntimeOptions.defaults());
             MedGemmaModel fusedQ4 = MedGemmaModel.load(q4Fused, "q4", RuntimeOptions.defaults());
             MedGemmaModel standardQ4 = MedGemmaModel.load(q4Standard, "q4", RuntimeOptions.defaults());
             MedGemmaModel chunked = MedGemmaModel.load(fp32Fused, "fp32", RuntimeOptions.defaults().withPrefillChunkTokens(3))) {
            for (int[] prompt : prompts) {
                List<Integer> expected = reference.greedy(prompt, NEW_TOKENS, -1, null);
                assertEquals(expected, greedy(fused, prompt), "fused fp32 vs reference on " + Arrays.toString(prompt));
                // Prefill in runs of 3 tokens: GroupQueryAttention's later runs attend to the cache of the earlier ones.
                assertEquals(expected, greedy(chunked, prompt), "fused fp32, chunked prefill, on " + Arrays.toString(prompt));
                assertEquals(greedy(standard, prompt), greedy(fused, prompt), "fused vs standard fp32 on " + Arrays.toString(prompt));
                assertEquals(greedy(standardQ4, prompt), greedy(fusedQ4, prompt), "fused vs standard q4 on " + Arrays.toString(prompt));
            }
        }
    }

    @Test
    void fusedQ4MatchesStandardQ4AndFollowsFp32() throws Exception {
        CheckpointForge.Shape s = text.shape();
        double vsStandard = 0;
        double vsFp32 = 0;
        int agree = 0;
        int positions = 0;
        try (ConvertedGraphs fused = new ConvertedGraphs(q4Fused, "_q4", false, s.layers(), s.kvHeads(), s.headDim());
             ConvertedGraphs standard = new ConvertedGraphs(q4Standard, "_q4", false, s.layers(), s.kvHeads(), s.headDim());
             ConvertedGraphs fp32 = new ConvertedGraphs(fp32Fused, "", false, s.layers(), s.kvHeads(), s.headDim())) {
            for (int[] prompt : prompts) {
                for (int length = 1; length <= prompt.length; length++) {
                    long[] prefix = Arrays.stream(prompt, 0, length).asLongStream().toArray();
                    float[] q4 = fused.lastLogits(prefix, -1, null, false);
                    float[] full = fp32.lastLogits(prefix, -1, null, false);
                    vsStandard = Math.max(vsStandard, maxAbsDiff(q4, standard.lastLogits(prefix, -1, null, false)));
                    vsFp32 = Math.max(vsFp32, maxAbsDiff(q4, full));
                    agree += argmax(q4) == argmax(full) ? 1 : 0;
                    positions++;
                }
            }
        }
        double rate = (double) agree / positions;
        System.out.printf("fused q4: largest logit difference %.2e vs standard q4; vs fused fp32 top-1 agreement %.1f%% over %d"
                + " positions, largest logit difference %.3f%n", vsStandard, 100 * rate, positions, vsFp32);
        assertTrue(vsStandard < LOGIT_TOLERANCE, "fused q4 vs standard q4 " + vsStandard);
        assertTrue(rate >= 0.5, "top-1 agreement " + rate);
        assertTrue(vsFp32 > 0, "q4 logits identical to fp32: the weights were not quantized");
    }

    @Test
    void fusedImageTextDecoderKeepsTheImageBidirectional() throws Exception {
        CheckpointForge.Shape s = image.shape();
        GemmaReference reference = new GemmaReference(image, true);
        GemmaReference causal = new GemmaReference(image, false);
        int imageToken = image.tokens().imageSoftToken();
        int[] prompt = ImageTextConversionTest.imagePrompt(image, s.mmTokensPerImage());
        double[][][] pixels = ImageTextConversionTest.pixels(s.imageSize(), 3);
        double[][] expectedFeatures = reference.imageFeatures(pixels);
        double[][] bidirectional = reference.logits(prompt, imageToken, expectedFeatures);
        double[][] plainlyCausal = causal.logits(prompt, imageToken, expectedFeatures);
        double vsOriginal = 0;
        double vsCausal = 0;
        double causalVsOriginal = 0;
        try (ConvertedGraphs graphs = new ConvertedGraphs(imageFused, "", true, s.layers(), s.kvHeads(), s.headDim())) {
            float[][] features = graphs.imageFeatures(pixels);
            int firstImage = Arrays.stream(prompt).boxed().toList().indexOf(imageToken);
            for (int length = firstImage + 1; length <= prompt.length; length++) {
                long[] prefix = Arrays.stream(prompt, 0, length).asLongStream().toArray();
                if (length < prompt.length && prompt[length] == imageToken) {
                    continue; // a prefix that cuts the image is not a prompt the engine would run
                }
                float[] marked = graphs.lastLogits(prefix, imageToken, features, true);
                float[] unmarked = graphs.lastLogits(prefix, imageToken, features, false);
                vsOriginal = Math.max(vsOriginal, maxAbsDiff(bidirectional[length - 1], marked));
                vsCausal = Math.max(vsCausal, maxAbsDiff(plainlyCausal[length - 1], unmarked));
                causalVsOriginal = Math.max(causalVsOriginal, maxAbsDiff(bidirectional[length - 1], unmarked));
            }
        }
        System.out.printf("fused image + text: image prompt vs original %.2e; 0/1 mask vs causal reference %.2e (vs original %.2f)%n",
                vsOriginal, vsCausal, causalVsOriginal);
        assertTrue(vsOriginal < LOGIT_TOLERANCE, "image prompt vs original " + vsOriginal);
        assertTrue(vsCausal < LOGIT_TOLERANCE, "0/1 mask vs causal reference " + vsCausal);
        assertTrue(causalVsOriginal > 100 * LOGIT_TOLERANCE, "the image's bidirectionality made no difference: the test cannot tell");

        try (MedGemmaModel model = MedGemmaModel.load(imageFused, "fp32", RuntimeOptions.defaults())) {
            for (int[] p : ConverterAgreementTest.prompts(2, 43)) {
                assertEquals(reference.greedy(p, NEW_TOKENS, -1, null), greedy(model, p));
            }
            // Through the chat API: the engine's preprocessing, template, image features and image marking, then decode steps
            // on the fused path (the image prefill takes the standard-attention branch, the steps GroupQueryAttention).
            double[][][] px = ImageTextConversionTest.pixels(s.imageSize(), 9);
            GenerationResult result = model.generate(new GenerationRequest(List.of(ChatMessage.user(
                    new ContentPart.Image(ImageTextConversionTest.png(px)), new ContentPart.Text("what is shown?"))),
                    GenerationParams.greedy(NEW_TOKENS)), TextStreamListener.NONE, Cancellation.none());
            List<Integer> expected = reference.greedy(result.promptTokenIds(), NEW_TOKENS, imageToken, reference.imageFeatures(px));
            List<Integer> actual = boxed(result.generatedTokenIds());
            assertEquals(s.mmTokensPerImage(), Arrays.stream(result.promptTokenIds()).filter(id -> id == imageToken).count());
            assertTrue(!actual.isEmpty() && actual.equals(expected.subList(0, actual.size())),
                    "engine " + actual + " vs original " + expected);
        }
    }

    /**
     * Concurrent generations share decode steps on the fused graph: rows left-padded to the longest, padding masked
     * through GroupQueryAttention's attention_bias, one cache buffer as past and present. Each gets its tokens alone.
     */
    @Test
    void batchedFusedDecodingGivesEachRequestItsTokensAlone() throws Exception {
        List<int[]> mixed = ConverterAgreementTest.prompts(6, 71);
        for (Path dir : List.of(fp32Fused, q4Fused)) {
            try (MedGemmaModel alone = MedGemmaModel.load(dir, null, RuntimeOptions.defaults().withMaxBatch(1));
                 MedGemmaModel batched = MedGemmaModel.load(dir, null, RuntimeOptions.defaults().withMaxBatch(4))) {
                List<List<Integer>> expected = new ArrayList<>();
                for (int i = 0; i < mixed.size(); i++) {
                    expected.add(greedy(alone, mixed.get(i), 6 + 3 * i));
                }
                ExecutorService pool = Executors.newFixedThreadPool(mixed.size());
                try {
                    List<Future<List<Integer>>> got = new ArrayList<>();
                    for (int i = 0; i < mixed.size(); i++) {
                        int[] prompt = mixed.get(i);
                        int limit = 6 + 3 * i;
                        got.add(pool.submit(() -> greedy(batched, prompt, limit)));
                    }
                    for (int i = 0; i < mixed.size(); i++) {
                        assertEquals(expected.get(i), got.get(i).get(120, TimeUnit.SECONDS), dir + " request " + i);
                    }
                } finally {
                    pool.shutdownNow();
                }
                long[] steps = batched.batchStatistics()[0];
                long shared = 0;
                for (int rows = 2; rows < steps.length; rows++) {
                    shared += steps[rows];
                }
                assertTrue(shared > 0, "no decode step ran more than one sequence: " + Arrays.toString(steps));
            }
        }
    }

    /**
     * A generation longer than the room a shared-buffer layout leaves (256 columns) makes the batch lay its cache out
     * again mid-generation; the tokens stay those of the standard graph, whose two buffers are copied every step.
     */
    @Test
    void aLongGenerationOutgrowsTheSharedLayoutAndKeepsItsTokens() {
        int[] prompt = prompts.get(0);
        int newTokens = 300;
        try (MedGemmaModel fused = MedGemmaModel.load(fp32Fused, "fp32", RuntimeOptions.defaults());
             MedGemmaModel standard = MedGemmaModel.load(fp32Standard, "fp32", RuntimeOptions.defaults())) {
            assertEquals(greedy(standard, prompt, newTokens), greedy(fused, prompt, newTokens));
        }
    }

    /**
     * The sliding layers' cache holds their window only: the conversion record names Gemma 3's layer kinds (every
     * sixth layer global) and the window, and over a 600-token generation the batch's cache never exceeds the global
     * layers' full context plus the sliding layers' window and free room (256 columns), about half of every layer's
     * full context here (the tokens themselves are checked against the standard graph above, where every layer keeps
     * every column).
     */
    @Test
    void slidingLayersKeepOnlyTheirWindowOfTheCache() throws Exception {
        CheckpointForge.Shape s = text.shape();
        JsonNode record = new ObjectMapper().readTree(fp32Fused.resolve("conversion.json").toFile()).path("slidingWindowCache");
        assertEquals(s.slidingWindow(), record.path("window").asInt());
        int slidingLayers = 0;
        for (int i = 0; i < s.layers(); i++) {
            boolean sliding = (i + 1) % 6 != 0;
            assertEquals(sliding, record.path("layers").path(i).asBoolean(!sliding), "layer " + i);
            slidingLayers += sliding ? 1 : 0;
        }
        int[] prompt = prompts.get(0);
        int newTokens = 600;
        try (MedGemmaModel fused = MedGemmaModel.load(fp32Fused, "fp32", RuntimeOptions.defaults())) {
            assertEquals(newTokens, greedy(fused, prompt, newTokens).size());
            long column = 2L * s.kvHeads() * s.headDim() * Float.BYTES; // key and value of one layer, one token
            int context = prompt.length + newTokens;
            long bound = column * ((long) (s.layers() - slidingLayers) * context + (long) slidingLayers * (s.slidingWindow() - 1 + 256));
            long full = column * s.layers() * context;
            long peak = fused.peakKvCacheBytes();
            assertTrue(bound < full * 0.6, "the test's bound " + bound + " should be well under the full cache " + full);
            assertTrue(peak > 0 && peak <= bound, "peak KV cache " + peak + " bytes, bound " + bound + ", full " + full);
        }
    }

    /**
     * A model converted before the sliding-window cache (no {@code slidingWindowCache} in conversion.json) is decoded
     * with every layer's full cache and 0/1 masks, and still gives the reference's tokens.
     */
    @Test
    void aConversionRecordWithoutTheSlidingCacheDecodesWithTheFullCache() throws Exception {
        Path old = temp.resolve("fp32-fused-without-sliding-record");
        if (!Files.exists(old)) {
            Files.createDirectories(old);
            try (var files = Files.list(fp32Fused)) {
                for (Path f : files.toList()) {
                    if (Files.isDirectory(f)) {
                        Files.createSymbolicLink(old.resolve(f.getFileName()), f);
                    } else if (!f.getFileName().toString().equals("conversion.json")) {
                        Files.copy(f, old.resolve(f.getFileName()));
                    }
                }
            }
            ObjectMapper json = new ObjectMapper();
            ObjectNode record = (ObjectNode) json.readTree(fp32Fused.resolve("conversion.json").toFile());
            assertTrue(record.remove("slidingWindowCache") != null);
            json.writeValue(old.resolve("conversion.json").toFile(), record);
        }
        GemmaReference reference = new GemmaReference(text, true);
        int[] prompt = prompts.get(1);
        try (MedGemmaModel model = MedGemmaModel.load(old, "fp32", RuntimeOptions.defaults())) {
            assertEquals(null, model.decoderSignature().slidingCache());
            assertEquals(reference.greedy(prompt, NEW_TOKENS, -1, null), greedy(model, prompt));
            CheckpointForge.Shape s = text.shape();
            long column = 2L * s.kvHeads() * s.headDim() * Float.BYTES;
            assertTrue(model.peakKvCacheBytes() >= column * s.layers() * (prompt.length + NEW_TOKENS - 1),
                    "without the record every layer keeps every column: " + model.peakKvCacheBytes());
        }
    }

    /**
     * The Java API's pinned outputs do give GroupQueryAttention its shared-buffer mode: one direct buffer passed as a
     * layer's past and as its pinned present comes back with the new column written in place and every other column
     * untouched (outside shared mode the kernel zero-fills the present first, and a copied output would not land there).
     */
    @Test
    void onePinnedBufferServesAsPastAndPresent() throws Exception {
        CheckpointForge.Shape s = text.shape();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int capacity = 12;
        int past = 5;
        float sentinel = 7.25f;
        try (OrtSession session = env.createSession(fp32Fused.resolve("onnx/model.onnx").toString(),
                new OrtSession.SessionOptions())) {
            int floats = s.kvHeads() * capacity * s.headDim();
            ByteBuffer[] cache = new ByteBuffer[2 * s.layers()];
            Map<String, OnnxTensor> inputs = new HashMap<>();
            Map<String, OnnxValue> pinned = new HashMap<>();
            long[] shape = {1, s.kvHeads(), capacity, s.headDim()};
            try {
                for (int t = 0; t < cache.length; t++) {
                    cache[t] = ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder());
                    for (int i = 0; i < floats; i++) {
                        cache[t].putFloat(i * 4, sentinel);
                    }
                    String kind = t % 2 == 0 ? "key" : "value";
                    inputs.put("past_key_values." + t / 2 + "." + kind, OnnxTensor.createTensor(env, cache[t].asFloatBuffer(), shape));
                    pinned.put("present." + t / 2 + "." + kind, OnnxTensor.createTensor(env, cache[t].asFloatBuffer(), shape));
                }
                inputs.put("input_ids", OnnxTensor.createTensor(env, new long[][] {{42}}));
                inputs.put("position_ids", OnnxTensor.createTensor(env, new long[][] {{past + 1}}));
                long[] mask = new long[past + 1];
                Arrays.fill(mask, 1);
                inputs.put("attention_mask", OnnxTensor.createTensor(env, new long[][] {mask}));
                Map<String, OnnxTensorLike> feeds = new HashMap<>(inputs);
                try (OrtSession.Result r = session.run(feeds, Set.of("logits"), pinned)) {
                    assertTrue(r.get("logits").isPresent());
                }
            } finally {
                inputs.values().forEach(OnnxTensor::close);
                pinned.values().forEach(OnnxValue::close);
            }
            for (int t = 0; t < cache.length; t++) {
                for (int h = 0; h < s.kvHeads(); h++) {
                    for (int col = 0; col < capacity; col++) {
                        float first = cache[t].getFloat(((h * capacity + col) * s.headDim()) * 4);
                        if (col == past) {
                            assertTrue(first != sentinel, "tensor " + t + " head " + h + ": the new column was not written in place");
                        } else {
                            assertEquals(sentinel, first, "tensor " + t + " head " + h + " column " + col + " was rewritten");
                        }
                    }
                }
            }
        }
    }

    private static List<Integer> greedy(MedGemmaModel model, int[] prompt, int newTokens) {
        return boxed(model.generateTokens(prompt, GenerationParams.greedy(newTokens), false, Cancellation.none()).generatedTokenIds());
    }

    private static List<Integer> greedy(MedGemmaModel model, int[] prompt) {
        return boxed(model.generateTokens(prompt, GenerationParams.greedy(NEW_TOKENS), false, Cancellation.none()).generatedTokenIds());
    }
}
