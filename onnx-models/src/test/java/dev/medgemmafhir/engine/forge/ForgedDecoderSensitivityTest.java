package dev.medgemmafhir.engine.forge;

import ai.onnxruntime.OrtException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static dev.medgemmafhir.engine.forge.DecoderProbe.maxAbsDiff;
import static dev.medgemmafhir.engine.forge.DecoderProbe.ones;
import static dev.medgemmafhir.engine.forge.DecoderProbe.range;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The forged decoder is only useful if engine mistakes change its output. Each test feeds the
 * graph correctly once and with one realistic mistake once (a mask, a position, a cache
 * hand-off), directly through ONNX Runtime Java, and requires the logits to move.
 */
class ForgedDecoderSensitivityTest {

    /** Logit differences below this are float noise; the mistakes below move logits by whole units. */
    private static final float SAME = 1e-3f;
    private static final float CHANGED = 0.05f;

    private static final long[] PROMPT = {2, 260, 300, 315, 331, 402, 377, 290, 410, 263, 261, 263, 260, 333};

    @TempDir
    static Path dir;
    private static ForgedModel model;
    private static DecoderProbe decoder;

    @BeforeAll
    static void forge() throws OrtException {
        model = ModelForge.forge(ForgeSpec.textOnly().seed(11), dir.resolve("text"));
        decoder = new DecoderProbe(model.decoderFile(WeightVariant.FP32), model.dims());
    }

    @AfterAll
    static void close() throws OrtException {
        decoder.close();
    }

    @Test
    void cachedDecodingReproducesTheFullSequenceLogits() throws OrtException {
        float[][] full = decoder.prefill(PROMPT).logits();

        // Prefill all but the last three tokens, then feed those one at a time through the cache.
        int split = PROMPT.length - 3;
        DecoderProbe.Step step = decoder.prefill(Arrays.copyOf(PROMPT, split));
        for (int i = split; i < PROMPT.length; i++) {
            step = decoder.run(new long[] {PROMPT[i]}, new long[] {i + 1}, ones(i + 1), step.present());
            assertTrue(maxAbsDiff(full[i], step.lastLogits()) < SAME,
                    "cached step " + i + " differs from the full pass by " + maxAbsDiff(full[i], step.lastLogits()));
        }
        assertEquals(PROMPT.length, step.present().length());
    }

    @Test
    void aStalePositionIdChangesTheLogits() throws OrtException {
        int split = PROMPT.length - 1;
        DecoderProbe.Step prefix = decoder.prefill(Arrays.copyOf(PROMPT, split));
        long[] last = {PROMPT[split]};
        float[] right = decoder.run(last, new long[] {split + 1}, ones(split + 1), prefix.present()).lastLogits();
        // The classic off-by-one: the decode position repeats the last prefill position.
        float[] stale = decoder.run(last, new long[] {split}, ones(split + 1), prefix.present()).lastLogits();
        assertTrue(maxAbsDiff(right, stale) > CHANGED, "a repeated position left the logits unchanged");
    }

    @Test
    void zeroBasedInsteadOfOneBasedPositionsChangeTheLogits() throws OrtException {
        float[] oneBased = decoder.prefill(PROMPT).lastLogits();
        float[] zeroBased = decoder.run(PROMPT, range(0, PROMPT.length), ones(PROMPT.length), decoder.emptyCache()).lastLogits();
        assertTrue(maxAbsDiff(oneBased, zeroBased) > CHANGED,
                "position jitter should make absolute positions matter, diff " + maxAbsDiff(oneBased, zeroBased));
    }

    @Test
    void withoutJitterOnlyRelativePositionsMatterAsInTextbookRope() throws OrtException {
        ForgedModel textbook = ModelForge.forge(ForgeSpec.textOnly().seed(11).positionJitter(0), dir.resolve("textbook"));
        try (DecoderProbe plain = new DecoderProbe(textbook.decoderFile(WeightVariant.FP32), textbook.dims())) {
            float[] oneBased = plain.prefill(PROMPT).lastLogits();
            float[] shifted = plain.run(PROMPT, range(5, PROMPT.length), ones(PROMPT.length), plain.emptyCache()).lastLogits();
            // Same relative offsets: equal up to the float error of cos/sin at other angles.
            assertTrue(maxAbsDiff(oneBased, shifted) < 0.02f, "diff " + maxAbsDiff(oneBased, shifted));
            // Which is why the default forge adds jitter: the same shift on the default model shows.
            float[] jitteredShift = decoder.run(PROMPT, range(5, PROMPT.length), ones(PROMPT.length), decoder.emptyCache()).lastLogits();
            assertTrue(maxAbsDiff(decoder.prefill(PROMPT).lastLogits(), jitteredShift) > CHANGED);
        }
    }

    @Test
    void maskingOutAnEarlierTokenChangesTheLogits() throws OrtException {
        long[] mask = ones(PROMPT.length);
        mask[3] = 0;
        float[] all = decoder.prefill(PROMPT).lastLogits();
        float[] masked = decoder.run(PROMPT, range(1, PROMPT.length), mask, decoder.emptyCache()).lastLogits();
        assertTrue(maxAbsDiff(all, masked) > CHANGED, "the attention mask is ignored");
    }

    @Test
    void aMaskThatDoesNotCoverTheCacheIsRejected() throws OrtException {
        DecoderProbe.Step prefix = decoder.prefill(Arrays.copyOf(PROMPT, 5));
        // Forgetting to grow the mask by one column on a decode step.
        assertThrows(OrtException.class, () -> decoder.run(new long[] {PROMPT[5]}, new long[] {6}, ones(5), prefix.present()));
    }

    @Test
    void theCausalMaskHidesLaterTokens() throws OrtException {
        // Logits at position 4 may not depend on what follows it.
        long[] changedTail = PROMPT.clone();
        changedTail[10] = 500;
        float[][] a = decoder.prefill(PROMPT).logits();
        float[][] b = decoder.prefill(changedTail).logits();
        assertTrue(maxAbsDiff(a[4], b[4]) < SAME, "a later token leaked into an earlier position");
        assertTrue(maxAbsDiff(a[12], b[12]) > CHANGED, "an earlier token did not reach a later position");
    }

    @Test
    void aWrongCacheHandOffChangesTheLogits() throws OrtException {
        int split = PROMPT.length - 2;
        DecoderProbe.Step before = decoder.prefill(Arrays.copyOf(PROMPT, split - 1));
        DecoderProbe.Step prefix = decoder.run(new long[] {PROMPT[split - 1]}, new long[] {split}, ones(split), before.present());
        long[] next = {PROMPT[split]};
        float[] right = decoder.run(next, new long[] {split + 1}, ones(split + 1), prefix.present()).lastLogits();

        // Passing the previous step's present again (off by one step), with a mask that matches it.
        float[] stale = decoder.run(next, new long[] {split + 1}, ones(split), before.present()).lastLogits();
        assertTrue(maxAbsDiff(right, stale) > CHANGED, "a stale cache went unnoticed");

        // Swapping key and value caches.
        DecoderProbe.Cache swapped = new DecoderProbe.Cache(prefix.present().values(), prefix.present().keys(), prefix.present().length());
        float[] crossed = decoder.run(next, new long[] {split + 1}, ones(split + 1), swapped).lastLogits();
        assertTrue(maxAbsDiff(right, crossed) > CHANGED, "swapped key/value caches went unnoticed");

        // Handing layer 0's cache to layer 1.
        DecoderProbe.Cache shifted = new DecoderProbe.Cache(
                List.of(prefix.present().keys().get(1), prefix.present().keys().get(0)),
                List.of(prefix.present().values().get(1), prefix.present().values().get(0)), prefix.present().length());
        float[] layersCrossed = decoder.run(next, new long[] {split + 1}, ones(split + 1), shifted).lastLogits();
        assertTrue(maxAbsDiff(right, layersCrossed) > CHANGED, "caches handed to the wrong layers went unnoticed");
    }

    @Test
    void greedyContinuationsFollowThePromptInsteadOfEchoing() throws OrtException {
        long[][] prompts = {
                PROMPT,
                {2, 260, 300, 400, 263},
                {2, 260, 350, 351, 352, 353, 263, 261},
                {2, 500, 501, 502},
        };
        Set<List<Integer>> continuations = new HashSet<>();
        for (long[] prompt : prompts) {
            List<Integer> tokens = decoder.greedy(prompt, 12);
            continuations.add(tokens);
            assertTrue(new HashSet<>(tokens).size() >= 4, "greedy output is nearly constant: " + tokens);
            int echoes = tokens.get(0) == prompt[prompt.length - 1] ? 1 : 0;
            for (int i = 1; i < tokens.size(); i++) {
                if (tokens.get(i).equals(tokens.get(i - 1))) {
                    echoes++;
                }
            }
            assertTrue(echoes <= 3, "the model echoes its last token: " + tokens);
        }
        assertEquals(prompts.length, continuations.size(), "different prompts gave the same continuation");
    }

    @Test
    void q4QuantizesTheSameWeightsAsFp32() throws OrtException {
        ForgedModel both = ModelForge.forge(ForgeSpec.textOnly().seed(11).variants(WeightVariant.FP32, WeightVariant.Q4), dir.resolve("both"));
        try (DecoderProbe fp32 = new DecoderProbe(both.decoderFile(WeightVariant.FP32), both.dims());
             DecoderProbe q4 = new DecoderProbe(both.decoderFile(WeightVariant.Q4), both.dims())) {
            float[] exact = fp32.prefill(PROMPT).lastLogits();
            float[] quantized = q4.prefill(PROMPT).lastLogits();
            // 4-bit blocks perturb every weight a little: close, not equal. A wrong packing or
            // scale layout would leave no correlation at all.
            double correlation = correlation(exact, quantized);
            assertTrue(correlation > 0.9, "q4 logits do not follow fp32: correlation " + correlation);
            assertNotEquals(0f, maxAbsDiff(exact, quantized), "q4 graph is not quantized");
        }
    }

    @Test
    void numLogitsToKeepReturnsOnlyTheLastRows() throws OrtException {
        ForgedModel keep = ModelForge.forge(ForgeSpec.textOnly().seed(11).numLogitsToKeep(true), dir.resolve("keep"));
        try (DecoderProbe probe = new DecoderProbe(keep.decoderFile(WeightVariant.FP32), keep.dims())) {
            long[] positions = range(1, PROMPT.length);
            float[][] lastOnly = probe.run(PROMPT, positions, ones(PROMPT.length), probe.emptyCache(), 1L).logits();
            assertEquals(1, lastOnly.length);
            assertTrue(maxAbsDiff(lastOnly[0], decoder.prefill(PROMPT).lastLogits()) < SAME, "same weights, same last row");
            assertEquals(PROMPT.length, probe.run(PROMPT, positions, ones(PROMPT.length), probe.emptyCache(), 0L).logits().length,
                    "0 keeps every position");
        }
    }

    private static double correlation(float[] a, float[] b) {
        double ma = 0;
        double mb = 0;
        for (int i = 0; i < a.length; i++) {
            ma += a[i];
            mb += b[i];
        }
        ma /= a.length;
        mb /= b.length;
        double cov = 0;
        double va = 0;
        double vb = 0;
        for (int i = 0; i < a.length; i++) {
            cov += (a[i] - ma) * (b[i] - mb);
            va += (a[i] - ma) * (a[i] - ma);
            vb += (b[i] - mb) * (b[i] - mb);
        }
        return cov / Math.sqrt(va * vb);
    }
}
