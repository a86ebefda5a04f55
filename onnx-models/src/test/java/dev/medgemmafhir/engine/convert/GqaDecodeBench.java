package dev.medgemmafhir.engine.convert;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.IntBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.medgemmafhir.engine.convert.OnnxGraph.MICROSOFT_DOMAIN;
import static dev.medgemmafhir.engine.convert.OnnxGraph.floatAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;

/**
 * One decode step of ONNX Runtime's CPU GroupQueryAttention at MedGemma 4B's shape (8 / 4 heads of 256), shared
 * past/present buffer, timed per variant, variants alternating (a benchmark main, not a test):
 * {@code java -cp medgemma-cli.jar:test-classes dev.medgemmafhir.engine.convert.GqaDecodeBench CONTEXT ITERATIONS ROUNDS THREADS}.
 * Variants: the operator's own scale (0.0625) vs scale 1 (the scale folded into q), a local window, no attention bias, fp16.
 */
public final class GqaDecodeBench {

    private static final int HEADS = 8;
    private static final int KV_HEADS = 4;
    private static final int HEAD_DIM = 256;

    public static void main(String[] args) throws Exception {
        int context = Integer.parseInt(args[0]);
        int iterations = Integer.parseInt(args[1]);
        int rounds = Integer.parseInt(args[2]);
        int threads = Integer.parseInt(args[3]);
        int window = args.length > 4 ? Integer.parseInt(args[4]) : 1023;
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Path dir = Files.createTempDirectory("gqa-bench");
        String[] names = {"fp32 scale0.0625", "fp32 scale1", "fp32 scale1 window", "fp32 scale1 nobias", "f16 scale1", "f16 scale1 window"};
        float[] scales = {0.0625f, 1f, 1f, 1f, 1f, 1f};
        int[] windows = {-1, -1, window, -1, -1, window};
        boolean[] half = {false, false, false, false, true, true};
        boolean[] biased = {true, true, true, false, true, true};
        OrtSession[] sessions = new OrtSession[names.length];
        for (int i = 0; i < names.length; i++) {
            Path file = dir.resolve(i + ".onnx");
            write(file, scales[i], windows[i], half[i], biased[i]);
            OrtSession.SessionOptions o = new OrtSession.SessionOptions();
            o.setIntraOpNumThreads(threads);
            sessions[i] = env.createSession(file.toString(), o);
        }
        int capacity = context + 256;
        ByteBuffer key = ByteBuffer.allocateDirect(KV_HEADS * capacity * HEAD_DIM * 4).order(ByteOrder.nativeOrder());
        ByteBuffer value = ByteBuffer.allocateDirect(KV_HEADS * capacity * HEAD_DIM * 4).order(ByteOrder.nativeOrder());
        ByteBuffer key16 = ByteBuffer.allocateDirect(KV_HEADS * capacity * HEAD_DIM * 2).order(ByteOrder.nativeOrder());
        ByteBuffer value16 = ByteBuffer.allocateDirect(KV_HEADS * capacity * HEAD_DIM * 2).order(ByteOrder.nativeOrder());
        for (int i = 0; i < key.capacity() / 4; i++) {
            key.putFloat(i * 4, (float) Math.sin(i * 0.001));
            value.putFloat(i * 4, (float) Math.cos(i * 0.001));
            key16.putShort(i * 2, toHalf((float) Math.sin(i * 0.001)));
            value16.putShort(i * 2, toHalf((float) Math.cos(i * 0.001)));
        }
        long[] cacheShape = {1, KV_HEADS, capacity, HEAD_DIM};
        float[] q = new float[HEADS * HEAD_DIM];
        float[] kv = new float[KV_HEADS * HEAD_DIM];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) Math.sin(i);
        }
        for (int i = 0; i < kv.length; i++) {
            kv[i] = (float) Math.cos(i);
        }
        double[][] ms = new double[names.length][rounds];
        try (OnnxTensor qT = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(q), new long[] {1, 1, q.length});
             OnnxTensor kT = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(kv), new long[] {1, 1, kv.length});
             OnnxTensor vT = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(kv), new long[] {1, 1, kv.length});
             OnnxTensor pastK = OnnxTensor.createTensor(env, key, cacheShape, ai.onnxruntime.OnnxJavaType.FLOAT);
             OnnxTensor pastV = OnnxTensor.createTensor(env, value, cacheShape, ai.onnxruntime.OnnxJavaType.FLOAT);
             OnnxTensor seqlens = OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {context - 1}), new long[] {1});
             OnnxTensor total = OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {context}), new long[] {});
             OnnxTensor bias = OnnxTensor.createTensor(env, java.nio.FloatBuffer.wrap(new float[context]), new long[] {1, 1, 1, context});
             OnnxTensor qH = half(env, q, new long[] {1, 1, q.length});
             OnnxTensor kH = half(env, kv, new long[] {1, 1, kv.length});
             OnnxTensor vH = half(env, kv, new long[] {1, 1, kv.length});
             OnnxTensor biasH = half(env, new float[context], new long[] {1, 1, 1, context});
             OnnxTensor pastK16 = OnnxTensor.createTensor(env, key16, cacheShape, ai.onnxruntime.OnnxJavaType.FLOAT16);
             OnnxTensor pastV16 = OnnxTensor.createTensor(env, value16, cacheShape, ai.onnxruntime.OnnxJavaType.FLOAT16)) {
            Map<String, OnnxTensor> in32 = new HashMap<>(Map.of("q", qT, "k", kT, "v", vT, "past_key", pastK, "past_value", pastV,
                    "seqlens_k", seqlens, "total", total, "bias", bias));
            Map<String, OnnxTensor> in32NoBias = new HashMap<>(in32);
            in32NoBias.remove("bias");
            Map<String, OnnxTensor> in16 = new HashMap<>(Map.of("q", qH, "k", kH, "v", vH, "past_key", pastK16, "past_value", pastV16,
                    "seqlens_k", seqlens, "total", total, "bias", biasH));
            Map<String, OnnxValue> pinned32 = Map.of("present_key", pastK, "present_value", pastV);
            Map<String, OnnxValue> pinned16 = Map.of("present_key", pastK16, "present_value", pastV16);
            for (int r = 0; r < rounds; r++) {
                for (int s = 0; s < names.length; s++) {
                    OrtSession session = sessions[(s + r) % names.length];
                    int which = (s + r) % names.length;
                    Map<String, OnnxTensor> inputs = half[which] ? in16 : biased[which] ? in32 : in32NoBias;
                    Map<String, OnnxValue> pinned = half[which] ? pinned16 : pinned32;
                    for (int w = 0; w < 3; w++) {
                        session.run(inputs, Set.of("out"), pinned).close();
                    }
                    long t0 = System.nanoTime();
                    for (int it = 0; it < iterations; it++) {
                        session.run(inputs, Set.of("out"), pinned).close();
                    }
                    ms[which][r] = (System.nanoTime() - t0) / 1e6 / iterations;
                }
            }
        }
        System.out.printf("GroupQueryAttention decode step, context %d, %d threads, %d iterations x %d rounds (ms per call, per round)%n",
                context, threads, iterations, rounds);
        for (int i = 0; i < names.length; i++) {
            StringBuilder b = new StringBuilder();
            double[] sorted = ms[i].clone();
            Arrays.sort(sorted);
            for (double m : ms[i]) {
                b.append(String.format(" %.3f", m));
            }
            System.out.printf("%-20s median %.3f |%s%n", names[i], sorted[rounds / 2], b);
        }
        for (OrtSession s : sessions) {
            s.close();
        }
    }

    /** fp32 -> fp16 bits, round to nearest (normal range only: the benchmark's values are in [-1, 1]). */
    private static short toHalf(float f) {
        int bits = Float.floatToIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = ((bits >>> 23) & 0xff) - 127 + 15;
        int mantissa = bits & 0x7fffff;
        if (exp <= 0) {
            return (short) sign;
        }
        int half = sign | (exp << 10) | (mantissa >>> 13);
        return (short) (half + ((mantissa >>> 12) & 1));
    }

    private static OnnxTensor half(OrtEnvironment env, float[] values, long[] shape) throws Exception {
        ByteBuffer b = ByteBuffer.allocateDirect(values.length * 2).order(ByteOrder.nativeOrder());
        for (int i = 0; i < values.length; i++) {
            b.putShort(i * 2, toHalf(values[i]));
        }
        return OnnxTensor.createTensor(env, b, shape, ai.onnxruntime.OnnxJavaType.FLOAT16);
    }

    private static void write(Path file, float scale, int window, boolean half, boolean biased) throws Exception {
        int t = half ? 10 : FLOAT;
        try (OnnxGraph g = new OnnxGraph("gqa", null)) {
            String q = g.input("q", t, 1, 1, HEADS * HEAD_DIM);
            String k = g.input("k", t, 1, 1, KV_HEADS * HEAD_DIM);
            String v = g.input("v", t, 1, 1, KV_HEADS * HEAD_DIM);
            String pk = g.input("past_key", t, 1, KV_HEADS, "capacity", HEAD_DIM);
            String pv = g.input("past_value", t, 1, KV_HEADS, "capacity", HEAD_DIM);
            String seqlens = g.input("seqlens_k", 6, 1);
            String total = g.input("total", 6);
            String bias = biased ? g.input("bias", t, 1, 1, 1, "total") : "";
            List<AttributeProto> a = new ArrayList<>(List.of(intAttr("num_heads", HEADS),
                    intAttr("kv_num_heads", KV_HEADS), floatAttr("scale", scale), intAttr("do_rotary", 0)));
            if (window > 0) {
                a.add(intAttr("local_window_size", window));
            }
            g.multiOutputOp(MICROSOFT_DOMAIN, "GroupQueryAttention", new String[] {"out", "present_key", "present_value"},
                    new String[] {q, k, v, pk, pv, seqlens, total, "", "", "", bias}, a.toArray(new AttributeProto[0]));
            g.output("out", t, 1, 1, HEADS * HEAD_DIM);
            g.output("present_key", t, 1, KV_HEADS, "capacity", HEAD_DIM);
            g.output("present_value", t, 1, KV_HEADS, "capacity", HEAD_DIM);
            g.save(file, "GroupQueryAttention decode benchmark");
        }
    }
}
