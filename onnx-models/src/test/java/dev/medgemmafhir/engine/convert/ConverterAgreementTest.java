package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.forge.GemmaReference;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A forged bf16 checkpoint (7 layers: sliding and global layers with their own RoPE, a window of 4
 * shorter than every prompt) converted to fp32 and q4 gives, in the engine, the tokens an
 * independent plain-Java forward pass of modeling_gemma3.py gives, with logits within 1e-4.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConverterAgreementTest {

    static final double LOGIT_TOLERANCE = 1e-4;
    static final int NEW_TOKENS = 8;

    @TempDir
    static Path temp;

    CheckpointForge.Forged text;
    Path textFp32;
    Path textQ4;
    List<int[]> prompts;

    @BeforeAll
    void convert() {
        text = CheckpointForge.forge(temp.resolve("gemma3-text"), CheckpointForge.Shape.tiny(), false,
                CheckpointForge.Naming.RELEASED, 2, 11);
        textFp32 = Converter.convert(text.dir(), temp.resolve("text-fp32"), new ConversionOptions("fp32", "standard"),
                ConversionProgress.NONE).directory();
        textQ4 = Converter.convert(text.dir(), temp.resolve("text-q4"), new ConversionOptions("q4", "standard"),
                ConversionProgress.NONE).directory();
        prompts = prompts(5, 23);
    }

    static List<int[]> prompts(int count, long seed) {
        Random r = new Random(seed);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int[] p = new int[9 + r.nextInt(10)];
            p[0] = 2;
            for (int j = 1; j < p.length; j++) {
                p[j] = 20 + r.nextInt(560);
            }
            out.add(p);
        }
        return out;
    }

    @Test
    void fp32LogitsOfEveryPromptPositionMatchTheReference() throws Exception {
        GemmaReference reference = new GemmaReference(text, true);
        CheckpointForge.Shape s = text.shape();
        try (ConvertedGraphs graphs = new ConvertedGraphs(textFp32, "", false, s.layers(), s.kvHeads(), s.headDim())) {
            double worst = 0;
            for (int[] prompt : prompts) {
                double[][] expected = reference.logits(prompt, -1, null);
                float[][] actual = graphs.prefillLogits(Arrays.stream(prompt).asLongStream().toArray(), -1, null);
                worst = Math.max(worst, maxAbsDiff(expected, actual));
            }
            System.out.printf("converted fp32 vs reference: largest logit difference %.2e over %d prompts%n", worst, prompts.size());
            assertTrue(worst < LOGIT_TOLERANCE, "largest logit difference " + worst);
        }
    }

    @Test
    void engineOnConvertedFp32DecodesTheReferenceTokens() {
        GemmaReference reference = new GemmaReference(text, true);
        try (MedGemmaModel model = MedGemmaModel.load(textFp32, "fp32", RuntimeOptions.defaults())) {
            for (int[] prompt : prompts) {
                List<Integer> expected = reference.greedy(prompt, NEW_TOKENS, -1, null);
                int[] actual = model.generateTokens(prompt, GenerationParams.greedy(NEW_TOKENS), false, Cancellation.none())
                        .generatedTokenIds();
                System.out.println("reference and engine on " + Arrays.toString(prompt) + ": " + expected + " / " + boxed(actual));
                assertEquals(expected, boxed(actual), "prompt " + Arrays.toString(prompt));
            }
        }
    }

    @Test
    void q4AgreesWithFp32OnMostTopTokens() throws Exception {
        CheckpointForge.Shape s = text.shape();
        int agree = 0;
        int positions = 0;
        double worst = 0;
        try (ConvertedGraphs fp32 = new ConvertedGraphs(textFp32, "", false, s.layers(), s.kvHeads(), s.headDim());
             ConvertedGraphs q4 = new ConvertedGraphs(textQ4, "_q4", false, s.layers(), s.kvHeads(), s.headDim())) {
            for (int[] prompt : prompts) {
                long[] ids = Arrays.stream(prompt).asLongStream().toArray();
                float[][] a = fp32.prefillLogits(ids, -1, null);
                float[][] b = q4.prefillLogits(ids, -1, null);
                for (int i = 0; i < a.length; i++) {
                    agree += argmax(a[i]) == argmax(b[i]) ? 1 : 0;
                    positions++;
                }
                worst = Math.max(worst, maxAbsDiff(a, b));
            }
        }
        double rate = (double) agree / positions;
        System.out.printf("q4 vs fp32: top-1 agreement %.1f%% over %d positions, largest logit difference %.3f%n",
                100 * rate, positions, worst);
        // Random tiny weights are harder on 4-bit blocks than trained ones; q4 must still follow fp32 mostly, and differ.
        assertTrue(rate >= 0.5, "top-1 agreement " + rate);
        assertTrue(worst > 0, "q4 logits identical to fp32: the weights were not quantized");
    }

    static double maxAbsDiff(double[][] expected, float[][] actual) {
        assertEquals(expected.length, actual.length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i].length, actual[i].length);
            for (int j = 0; j < expected[i].length; j++) {
                worst = Math.max(worst, Math.abs(expected[i][j] - actual[i][j]));
            }
        }
        return worst;
    }

    static double maxAbsDiff(float[][] a, float[][] b) {
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                worst = Math.max(worst, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return worst;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        return worst;
    }

    static double maxAbsDiff(double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs(expected[i] - actual[i]));
        }
        return worst;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static List<Integer> boxed(int[] ids) {
        return Arrays.stream(ids).boxed().toList();
    }
}
