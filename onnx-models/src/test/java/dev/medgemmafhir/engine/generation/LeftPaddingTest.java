package dev.medgemmafhir.engine.generation;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.forge.ForgeDims;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What {@link DecodeBatch} relies on, shown on the forged decoder itself: a sequence left-padded
 * into a batch with a longer one, padding columns masked out and filled with large garbage, gets
 * the logits it gets alone, step after step (same argmax, values within float rounding).
 */
class LeftPaddingTest {

    @TempDir
    Path tmp;

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();

    /** Caches [rows, kv_heads, length, head_dim] per layer, keys then values. */
    private record Step(float[][] logits, float[][] keys, float[][] values, int length) {
    }

    @ParameterizedTest
    @EnumSource(WeightVariant.class)
    void aPaddedRowComputesWhatItComputesAlone(WeightVariant variant) throws OrtException {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().variants(variant).seed(5), tmp.resolve(variant.dtype()));
        ForgeDims d = forged.dims();
        try (OrtSession session = env.createSession(forged.decoderFile(variant).toString(), new OrtSession.SessionOptions())) {
            long[] shortPrompt = {2, 40, 41};
            long[] longPrompt = {2, 50, 51, 52, 53, 54, 55, 56};
            Step a = run(session, d, new long[][] {shortPrompt}, new long[][] {range(1, 3)}, new long[][] {ones(3)}, empty(d, 1), 1);
            Step b = run(session, d, new long[][] {longPrompt}, new long[][] {range(1, 8)}, new long[][] {ones(8)}, empty(d, 1), 1);
            Step batch = pad(d, a, b, new Random(9));
            int aLength = 3;
            int bLength = 8;
            int aNext = argmax(a.logits()[0]);
            int bNext = argmax(b.logits()[0]);
            for (int step = 0; step < 4; step++) {
                a = run(session, d, new long[][] {{aNext}}, new long[][] {{1 + aLength}}, new long[][] {ones(aLength + 1)}, a, 1);
                b = run(session, d, new long[][] {{bNext}}, new long[][] {{1 + bLength}}, new long[][] {ones(bLength + 1)}, b, 1);
                int total = batch.length() + 1;
                long[] aMask = ones(total);
                for (int j = 0; j < total - aLength - 1; j++) {
                    aMask[j] = 0;
                }
                batch = run(session, d, new long[][] {{aNext}, {bNext}}, new long[][] {{1 + aLength}, {1 + bLength}},
                        new long[][] {aMask, ones(total)}, batch, 2);
                aLength++;
                bLength++;
                assertClose(a.logits()[0], batch.logits()[0], "short row, step " + step);
                assertClose(b.logits()[0], batch.logits()[1], "long row, step " + step);
                aNext = argmax(a.logits()[0]);
                bNext = argmax(b.logits()[0]);
            }
        }
    }

    /** The two caches as one batch of two rows, {@code a} left-padded to {@code b}'s length with garbage. */
    private static Step pad(ForgeDims d, Step a, Step b, Random garbage) {
        int length = b.length();
        int heads = d.kvHeads();
        int hd = d.headDim();
        float[][] keys = new float[d.layers()][];
        float[][] values = new float[d.layers()][];
        for (int l = 0; l < d.layers(); l++) {
            keys[l] = new float[2 * heads * length * hd];
            values[l] = new float[2 * heads * length * hd];
            for (int i = 0; i < keys[l].length; i++) {
                keys[l][i] = (garbage.nextFloat() - 0.5f) * 2000;
                values[l][i] = (garbage.nextFloat() - 0.5f) * 2000;
            }
            for (int h = 0; h < heads; h++) {
                int offset = (length - a.length()) * hd;
                System.arraycopy(a.keys()[l], h * a.length() * hd, keys[l], h * length * hd + offset, a.length() * hd);
                System.arraycopy(a.values()[l], h * a.length() * hd, values[l], h * length * hd + offset, a.length() * hd);
                System.arraycopy(b.keys()[l], h * length * hd, keys[l], (heads + h) * length * hd, length * hd);
                System.arraycopy(b.values()[l], h * length * hd, values[l], (heads + h) * length * hd, length * hd);
            }
        }
        return new Step(null, keys, values, length);
    }

    private Step run(OrtSession session, ForgeDims d, long[][] ids, long[][] positions, long[][] mask, Step past, int rows) throws OrtException {
        Map<String, OnnxTensor> in = new HashMap<>();
        try {
            in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(ids)), new long[] {rows, ids[0].length}));
            in.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(positions)), new long[] {rows, positions[0].length}));
            in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(flat(mask)), new long[] {rows, mask[0].length}));
            long[] shape = {rows, d.kvHeads(), past.length(), d.headDim()};
            for (int l = 0; l < d.layers(); l++) {
                in.put("past_key_values." + l + ".key", OnnxTensor.createTensor(env, FloatBuffer.wrap(past.keys()[l]), shape));
                in.put("past_key_values." + l + ".value", OnnxTensor.createTensor(env, FloatBuffer.wrap(past.values()[l]), shape));
            }
            try (OrtSession.Result r = session.run(in)) {
                float[][][] logits = (float[][][]) r.get("logits").orElseThrow().getValue();
                float[][] last = new float[rows][];
                for (int i = 0; i < rows; i++) {
                    last[i] = logits[i][logits[i].length - 1];
                }
                float[][] keys = new float[d.layers()][];
                float[][] values = new float[d.layers()][];
                for (int l = 0; l < d.layers(); l++) {
                    keys[l] = floats(r, "present." + l + ".key");
                    values[l] = floats(r, "present." + l + ".value");
                }
                return new Step(last, keys, values, past.length() + ids[0].length);
            }
        } finally {
            in.values().forEach(OnnxTensor::close);
        }
    }

    private static Step empty(ForgeDims d, int rows) {
        float[][] none = new float[d.layers()][0];
        return new Step(null, none, none, 0);
    }

    private static void assertClose(float[] alone, float[] batched, String what) {
        assertEquals(argmax(alone), argmax(batched), what + ": argmax");
        float scale = 0;
        float diff = 0;
        for (int i = 0; i < alone.length; i++) {
            scale = Math.max(scale, Math.abs(alone[i]));
            diff = Math.max(diff, Math.abs(alone[i] - batched[i]));
        }
        assertTrue(diff <= 1e-4f * Math.max(1, scale), what + ": logits differ by " + diff + " (largest " + scale + ")");
    }

    private static float[] floats(OrtSession.Result r, String name) {
        FloatBuffer b = ((OnnxTensor) r.get(name).orElseThrow()).getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    private static long[] flat(long[][] rows) {
        int width = rows[0].length;
        long[] out = new long[rows.length * width];
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(rows[i], 0, out, i * width, width);
        }
        return out;
    }

    private static long[] range(long first, int n) {
        long[] r = new long[n];
        for (int i = 0; i < n; i++) {
            r[i] = first + i;
        }
        return r;
    }

    private static long[] ones(int n) {
        long[] r = new long[n];
        java.util.Arrays.fill(r, 1L);
        return r;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
