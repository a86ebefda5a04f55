package dev.medgemmafhir.engine.sampling;

import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.OptionalLong;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TokenSamplerTest {

    private static final float NEG = Float.NEGATIVE_INFINITY;

    @Test
    void greedyIsArgmaxWithTheLowestIdOnTies() {
        assertEquals(2, TokenSampler.argmax(new float[] {0f, 1f, 3f, 3f, -2f}));
        assertEquals(0, TokenSampler.argmax(new float[] {NEG, NEG}));
        TokenSampler greedy = TokenSampler.of(GenerationParams.greedy(5), 64, 0.95);
        assertEquals(1, greedy.next(new float[] {0.5f, 9f, 2f}));
    }

    @Test
    void nanLogitsAreAnErrorNotAToken() {
        assertThrows(EngineException.class, () -> TokenSampler.argmax(new float[] {1f, Float.NaN, 0f}));
        assertThrows(EngineException.class, () -> TokenSampler.argmax(new float[] {Float.NaN, 1f}));
    }

    @Test
    void temperatureDividesLogits() {
        float[] l = {2f, -4f};
        new Temperature(0.5).process(l);
        assertArrayEquals(new float[] {4f, -8f}, l);
    }

    @Test
    void topKKeepsTheKLargestAndTies() {
        float[] l = {1f, 5f, 3f, 5f, 2f};
        new TopK(2).process(l);
        assertArrayEquals(new float[] {NEG, 5f, NEG, 5f, NEG}, l);
        float[] m = {1f, 5f, 3f, 4f, 2f};
        new TopK(3).process(m);
        assertArrayEquals(new float[] {NEG, 5f, 3f, 4f, NEG}, m);
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        // probabilities 0.5, 0.25, 0.125, 0.125
        float ln2 = (float) Math.log(2);
        float[] l = {3 * ln2, 2 * ln2, ln2, ln2};
        new TopP(0.7).process(l);
        assertArrayEquals(new float[] {3 * ln2, 2 * ln2, NEG, NEG}, l);
        float[] m = {3 * ln2, 2 * ln2, ln2, ln2};
        new TopP(0.5).process(m);
        assertArrayEquals(new float[] {3 * ln2, NEG, NEG, NEG}, m);
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        RepetitionPenalty p = new RepetitionPenalty(2.0);
        p.accept(0);
        p.accept(2);
        p.accept(2);
        float[] l = {4f, 4f, -1f};
        p.process(l);
        assertArrayEquals(new float[] {2f, 4f, -2f}, l);
    }

    @Test
    void aSeedReproducesASampleSequenceAndAnotherSeedDoesNot() {
        int[] a = draw(7);
        assertArrayEquals(a, draw(7));
        assertNotEquals(java.util.Arrays.toString(a), java.util.Arrays.toString(draw(8)));
    }

    @Test
    void samplingNeverPicksARuledOutToken() {
        GenerationParams p = new GenerationParams(5, 1.0, 2, 1.0, 1.0, OptionalLong.of(1), List.of());
        TokenSampler s = TokenSampler.of(p, null, null);
        for (int i = 0; i < 200; i++) {
            int t = s.next(new float[] {0f, 0.1f, 3f, 2.9f, 0.2f});
            assertTrue(t == 2 || t == 3, "picked " + t);
        }
    }

    @Test
    void samplingFollowsTheDistribution() {
        TokenSampler s = new TokenSampler(List.of(), new SplittableRandom(3), 3);
        int ones = 0;
        float[] logits = {0f, (float) Math.log(3)};
        for (int i = 0; i < 4000; i++) {
            ones += s.next(logits.clone());
        }
        assertEquals(0.75, ones / 4000.0, 0.03);
    }

    private static int[] draw(long seed) {
        GenerationParams p = new GenerationParams(5, 1.0, 0, 1.0, 1.0, OptionalLong.of(seed), List.of());
        TokenSampler s = TokenSampler.of(p, null, null);
        int[] out = new int[40];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.next(new float[] {0f, 0f, 0f, 0f, 0f, 0f, 0f, 0f});
        }
        return out;
    }
}
