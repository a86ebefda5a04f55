package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.model.MatMulNBitsAccuracy;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.NEW_TOKENS;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.argmax;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code models convert --q4-block-size N --q4-symmetric} on a forged 7-layer checkpoint (hidden 64, intermediate 96,
 * so blocks of 64 and 128 pad the MLP's K): what conversion.json records, that the graphs carry no zero points, and that
 * ONNX Runtime runs them at accuracy levels 0 (fp32 compute) and 4 (int8 activations, as the engine rewrites it at load)
 * with the top-1 token agreeing with the fp32 conversion at least half of the time at every prompt position, the bar
 * {@link FusedAttentionAgreementTest#fusedQ4MatchesStandardQ4AndFollowsFp32} holds today's blocks to.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class Q4FormatConversionTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path temp;

    CheckpointForge.Forged text;
    Path fp32;
    Path q4Default;
    Path q4Block64Symmetric;
    List<int[]> prompts;

    @BeforeAll
    void convert() {
        text = CheckpointForge.forge(temp.resolve("text"), CheckpointForge.Shape.tiny(), false, CheckpointForge.Naming.RELEASED, 2, 11);
        fp32 = convert("fp32", "--dtype", "fp32");
        q4Default = convert("q4", "--dtype", "q4");
        q4Block64Symmetric = convert("q4-64-sym", "--dtype", "q4", "--q4-block-size", "64", "--q4-symmetric");
        prompts = ConverterAgreementTest.prompts(4, 29);
    }

    private Path convert(String name, String... options) {
        Path to = temp.resolve(name);
        List<String> args = new ArrayList<>(List.of("models", "convert", "--from", text.dir().toString(), "--to", to.toString(), "-q"));
        args.addAll(List.of(options));
        ConvertCommandTest.Run run = ConvertCommandTest.cli(args.toArray(String[]::new));
        assertEquals(0, run.exit(), run.err());
        return to;
    }

    @Test
    void conversionJsonRecordsTheBlockFormat() throws IOException {
        JsonNode symmetric = JSON.readTree(q4Block64Symmetric.resolve("conversion.json").toFile()).path("options");
        assertEquals(64, symmetric.path("q4BlockSize").asInt());
        assertTrue(symmetric.path("q4Symmetric").asBoolean(false));
        JsonNode standard = JSON.readTree(q4Default.resolve("conversion.json").toFile()).path("options");
        assertEquals(32, standard.path("q4BlockSize").asInt());
        assertFalse(standard.path("q4Symmetric").asBoolean(true));
        JsonNode full = JSON.readTree(fp32.resolve("conversion.json").toFile()).path("options");
        assertTrue(full.path("q4BlockSize").isMissingNode() && full.path("q4Symmetric").isMissingNode(), full.toString());

        // models pull --convert reuses a directory only when its record says the same options.
        assertTrue(new ConversionOptions("q4", "fused", null, new Q4Format(64, true)).sameAs(symmetric));
        assertFalse(new ConversionOptions("q4", "fused").sameAs(symmetric));
        assertTrue(new ConversionOptions("q4", "fused").sameAs(standard));
        assertFalse(new ConversionOptions("q4", "fused", null, new Q4Format(64, true)).sameAs(standard));
        // A record from before these options holds today's default blocks.
        assertTrue(new ConversionOptions("q4", "fused").sameAs(JSON.readTree("{\"dtype\":\"q4\",\"attention\":\"fused\"}")));
    }

    @Test
    void symmetricGraphsHaveNoZeroPointsAndSmallerWeights() throws IOException {
        assertFalse(graphText(q4Block64Symmetric).contains("_zero_points"), "a symmetric graph names a zero_points initializer");
        assertTrue(graphText(q4Default).contains("_zero_points"), "the default graph lost its zero points");
        long symmetricBytes = weightBytes(q4Block64Symmetric);
        long defaultBytes = weightBytes(q4Default);
        assertTrue(symmetricBytes < defaultBytes, symmetricBytes + " vs " + defaultBytes);
    }

    @Test
    void block64SymmetricRunsAtAccuracyLevels0And4AndFollowsFp32() throws Exception {
        CheckpointForge.Shape s = text.shape();
        float[][][] levels = new float[2][][];
        int[] accuracy = {0, 4};
        for (int l = 0; l < accuracy.length; l++) {
            Path dir = atAccuracyLevel(q4Block64Symmetric, accuracy[l]);
            int agree = 0;
            double vsFp32 = 0;
            double vsDefault = 0;
            List<float[]> logits = new ArrayList<>();
            try (ConvertedGraphs q4 = new ConvertedGraphs(dir, "_q4", false, s.layers(), s.kvHeads(), s.headDim());
                 ConvertedGraphs blocks32 = new ConvertedGraphs(atAccuracyLevel(q4Default, accuracy[l]), "_q4", false, s.layers(),
                         s.kvHeads(), s.headDim());
                 ConvertedGraphs full = new ConvertedGraphs(fp32, "", false, s.layers(), s.kvHeads(), s.headDim())) {
                for (int[] prompt : prompts) {
                    for (int length = 1; length <= prompt.length; length++) {
                        long[] prefix = Arrays.stream(prompt, 0, length).asLongStream().toArray();
                        float[] actual = q4.lastLogits(prefix, -1, null, false);
                        float[] expected = full.lastLogits(prefix, -1, null, false);
                        agree += argmax(actual) == argmax(expected) ? 1 : 0;
                        vsFp32 = Math.max(vsFp32, maxAbsDiff(actual, expected));
                        vsDefault = Math.max(vsDefault, maxAbsDiff(actual, blocks32.lastLogits(prefix, -1, null, false)));
                        logits.add(actual);
                    }
                }
            }
            double rate = (double) agree / logits.size();
            System.out.printf("q4 blocks of 64, symmetric, accuracy level %d: top-1 agreement with fp32 %.1f%% over %d positions,"
                    + " largest logit difference %.3f vs fp32, %.3f vs blocks of 32 with zero points%n",
                    accuracy[l], 100 * rate, logits.size(), vsFp32, vsDefault);
            assertTrue(rate >= 0.5, "level " + accuracy[l] + ": top-1 agreement " + rate);
            assertTrue(vsFp32 > 0, "q4 logits identical to fp32: the weights were not quantized");
            assertTrue(vsDefault > 0, "blocks of 64 without zero points computed exactly what blocks of 32 with them do");
            levels[l] = logits.toArray(float[][]::new);
        }
        double levelDifference = 0;
        for (int i = 0; i < levels[0].length; i++) {
            levelDifference = Math.max(levelDifference, maxAbsDiff(levels[0][i], levels[1][i]));
        }
        assertTrue(levelDifference > 0, "accuracy level 4 computed exactly what level 0 does: the int8 kernel did not run");
    }

    @Test
    void theEngineLoadsTheSymmetricModelAtBothLevelsAndDecodesWhatTheGraphSays() throws Exception {
        CheckpointForge.Shape s = text.shape();
        int[] prompt = prompts.get(0);
        for (int level : new int[] {0, 4}) {
            float[] logits;
            try (ConvertedGraphs graphs = new ConvertedGraphs(atAccuracyLevel(q4Block64Symmetric, level), "_q4", false, s.layers(),
                    s.kvHeads(), s.headDim())) {
                logits = graphs.lastLogits(Arrays.stream(prompt).asLongStream().toArray(), -1, null, false);
            }
            try (MedGemmaModel model = MedGemmaModel.load(q4Block64Symmetric, "q4", RuntimeOptions.defaults().withQ4AccuracyLevel(level))) {
                int[] generated = model.generateTokens(prompt, GenerationParams.greedy(NEW_TOKENS), false, Cancellation.none())
                        .generatedTokenIds();
                assertEquals(NEW_TOKENS, generated.length, "level " + level);
                assertEquals(argmax(logits), generated[0], "level " + level + ": the engine's first token is not the graph's argmax");
            }
        }
    }

    @Test
    void badBlockSizesAndBlockOptionsOnFp32AreRefusedAndWriteNothing() {
        Path to = temp.resolve("refused");
        ConvertCommandTest.Run bad = ConvertCommandTest.cli("models", "convert", "--from", text.dir().toString(), "--to", to.toString(),
                "--q4-block-size", "48", "-q");
        assertEquals(2, bad.exit(), bad.err());
        assertTrue(bad.err().contains("--q4-block-size") && bad.err().contains("16, 32, 64, 128, 256"), bad.err());
        ConvertCommandTest.Run fp32Blocks = ConvertCommandTest.cli("models", "convert", "--from", text.dir().toString(), "--to",
                to.toString(), "--dtype", "fp32", "--q4-symmetric", "-q");
        assertEquals(1, fp32Blocks.exit(), fp32Blocks.err());
        assertTrue(fp32Blocks.err().contains("apply only to --dtype q4"), fp32Blocks.err());
        assertFalse(Files.exists(to));
    }

    /** A copy of the directory's decoder with every MatMulNBits at {@code level}, beside a link to the same weights. */
    private static Path atAccuracyLevel(Path dir, int level) throws IOException {
        Path copy = temp.resolve(dir.getFileName() + "-level" + level);
        if (Files.isDirectory(copy)) {
            return copy;
        }
        Path onnx = Files.createDirectories(copy.resolve("onnx"));
        byte[] graph = Files.readAllBytes(dir.resolve("onnx/model_q4.onnx"));
        Files.write(onnx.resolve("model_q4.onnx"), MatMulNBitsAccuracy.withAccuracyLevel(graph, level).orElse(graph));
        Files.createSymbolicLink(onnx.resolve("model_q4.onnx_data"), dir.resolve("onnx/model_q4.onnx_data").toAbsolutePath());
        return copy;
    }

    private static String graphText(Path dir) throws IOException {
        return new String(Files.readAllBytes(dir.resolve("onnx/model_q4.onnx")), StandardCharsets.ISO_8859_1);
    }

    private static long weightBytes(Path dir) throws IOException {
        return Files.size(dir.resolve("onnx/model_q4.onnx")) + Files.size(dir.resolve("onnx/model_q4.onnx_data"));
    }
}
