package dev.medgemmafhir.engine.forge;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Drives a forged text decoder ({@code input_ids} in) straight through ONNX Runtime Java, with
 * every input under the test's control: the forge's own tests use it to show which mistakes
 * change the logits. Deliberately plain (heap arrays, one batch row); not a model of the engine.
 */
final class DecoderProbe implements AutoCloseable {

    /** The key/value cache of every layer, [1, kv_heads, length, head_dim] flattened. */
    record Cache(List<float[]> keys, List<float[]> values, int length) {
    }

    /** Logits [sequence][vocab] and the cache the step handed back. */
    record Step(float[][] logits, Cache present) {
        float[] lastLogits() {
            return logits[logits.length - 1];
        }
    }

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession session;
    private final ForgeDims dims;

    DecoderProbe(Path decoderFile, ForgeDims dims) throws OrtException {
        this.session = env.createSession(decoderFile.toString(), new OrtSession.SessionOptions());
        this.dims = dims;
    }

    Cache emptyCache() {
        List<float[]> empty = new ArrayList<>();
        for (int i = 0; i < dims.layers(); i++) {
            empty.add(new float[0]);
        }
        return new Cache(empty, empty, 0);
    }

    /** One forward pass with explicit positions and mask (mask length = past + ids). */
    Step run(long[] ids, long[] positions, long[] mask, Cache past) throws OrtException {
        return run(ids, positions, mask, past, null);
    }

    /** As {@link #run(long[], long[], long[], Cache)}, also feeding {@code num_logits_to_keep} when not null. */
    Step run(long[] ids, long[] positions, long[] mask, Cache past, Long numLogitsToKeep) throws OrtException {
        Map<String, OnnxTensor> inputs = new HashMap<>();
        try {
            if (numLogitsToKeep != null) {
                inputs.put("num_logits_to_keep", OnnxTensor.createTensor(env, numLogitsToKeep.longValue()));
            }
            inputs.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length}));
            inputs.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, positions.length}));
            inputs.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, mask.length}));
            long[] cacheShape = {1, dims.kvHeads(), past.length(), dims.headDim()};
            for (int i = 0; i < dims.layers(); i++) {
                inputs.put("past_key_values." + i + ".key", OnnxTensor.createTensor(env, FloatBuffer.wrap(past.keys().get(i)), cacheShape));
                inputs.put("past_key_values." + i + ".value", OnnxTensor.createTensor(env, FloatBuffer.wrap(past.values().get(i)), cacheShape));
            }
            try (OrtSession.Result result = session.run(inputs)) {
                float[][] logits = ((float[][][]) result.get("logits").orElseThrow().getValue())[0];
                List<float[]> keys = new ArrayList<>();
                List<float[]> values = new ArrayList<>();
                for (int i = 0; i < dims.layers(); i++) {
                    keys.add(floats(result, "present." + i + ".key"));
                    values.add(floats(result, "present." + i + ".value"));
                }
                return new Step(logits, new Cache(keys, values, past.length() + ids.length));
            }
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    /** Prefill with Gemma's 1-based positions and a mask of ones. */
    Step prefill(long[] ids) throws OrtException {
        return run(ids, range(1, ids.length), ones(ids.length), emptyCache());
    }

    /** Greedy continuation the way transformers.js does it: prefill, then one token per step. */
    List<Integer> greedy(long[] prompt, int newTokens) throws OrtException {
        List<Integer> generated = new ArrayList<>();
        Step step = prefill(prompt);
        for (int n = 0; n < newTokens; n++) {
            int next = argmax(step.lastLogits());
            generated.add(next);
            int total = step.present().length() + 1;
            step = run(new long[] {next}, new long[] {total}, ones(total), step.present());
        }
        return generated;
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

    static float maxAbsDiff(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }

    static long[] range(long first, int count) {
        long[] r = new long[count];
        for (int i = 0; i < count; i++) {
            r[i] = first + i;
        }
        return r;
    }

    static long[] ones(int count) {
        long[] r = new long[count];
        Arrays.fill(r, 1L);
        return r;
    }

    private static float[] floats(OrtSession.Result result, String name) {
        OnnxTensor t = (OnnxTensor) result.get(name).orElseThrow();
        FloatBuffer b = t.getFloatBuffer();
        float[] out = new float[b.remaining()];
        b.get(out);
        return out;
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }
}
