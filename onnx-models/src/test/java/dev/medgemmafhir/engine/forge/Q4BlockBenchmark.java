package dev.medgemmafhir.engine.forge;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.convert.Int4BlockQuantizer;
import dev.medgemmafhir.engine.convert.OnnxGraph;
import dev.medgemmafhir.engine.convert.Q4Format;
import dev.medgemmafhir.engine.convert.TensorData;

import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;

/**
 * The decode-shaped product of MatMulNBits per {@link Q4Format}: one token ({@code M = 1}) times {@code count} random
 * 2560 x 10240 weights (MedGemma 4B's MLP gate shape; 16 of them are 420 M weights, far beyond any cache, so each run
 * streams them from memory as a decode step does), summed, at accuracy level 4 on 2 intra-op threads. The formats run
 * interleaved and each reports its fastest and median run: on a shared machine other work only ever adds time, so the
 * fastest runs are the ones to compare side by side. Generated into a temporary folder, never committed; not a test:
 * <pre>
 * java -cp onnx-models/target/medgemma-cli.jar:onnx-models/target/test-classes \
 *     dev.medgemmafhir.engine.forge.Q4BlockBenchmark /tmp/q4-blocks [runs] [weights]
 * </pre>
 */
public final class Q4BlockBenchmark {

    private static final int K = 2560;
    private static final int N = 10240;

    private Q4BlockBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: Q4BlockBenchmark DIR [runs] [weights]");
            System.exit(2);
        }
        Path dir = Files.createDirectories(Path.of(args[0]));
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 100;
        int count = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        List<Q4Format> formats = List.of(Q4Format.DEFAULT, new Q4Format(32, true), new Q4Format(64, true), new Q4Format(128, true),
                new Q4Format(64, false));
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        List<OrtSession> sessions = new ArrayList<>();
        long[] bytes = new long[formats.size()];
        for (int f = 0; f < formats.size(); f++) {
            Path graph = dir.resolve("matmul-" + f + ".onnx");
            bytes[f] = write(graph, formats.get(f), count);
            OrtSession.SessionOptions options = new OrtSession.SessionOptions();
            options.setIntraOpNumThreads(2);
            sessions.add(env.createSession(graph.toString(), options));
        }
        float[] x = new float[K];
        for (int i = 0; i < K; i++) {
            x[i] = (float) Math.sin(i * 0.37);
        }
        long[][] nanos = new long[formats.size()][runs];
        try (OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {1, K})) {
            for (int run = -5; run < runs; run++) {
                for (int f = 0; f < formats.size(); f++) {
                    long t0 = System.nanoTime();
                    try (OrtSession.Result r = sessions.get(f).run(Map.of("X", input))) {
                        r.get(0);
                    }
                    if (run >= 0) {
                        nanos[f][run] = System.nanoTime() - t0;
                    }
                }
            }
        }
        double fastestDefault = Arrays.stream(nanos[0]).min().orElseThrow();
        System.out.printf("%d x %d x %d weights, M = 1, accuracy level 4, 2 threads, %d interleaved runs each%n", count, K, N, runs);
        for (int f = 0; f < formats.size(); f++) {
            long[] sorted = nanos[f].clone();
            Arrays.sort(sorted);
            System.out.printf("%-42s %7.1f MB  fastest %6.2f ms  median %6.2f ms  fastest vs default %.2fx  %.1f GB/s%n",
                    formats.get(f).describe(), bytes[f] / 1e6, sorted[0] / 1e6, sorted[runs / 2] / 1e6, fastestDefault / sorted[0],
                    bytes[f] / (double) sorted[0]);
        }
        for (OrtSession s : sessions) {
            s.close();
        }
    }

    /** The graph {@code Sum_i MatMulNBits(X, W_i)}; returns the bytes of its weights. */
    private static long write(Path file, Q4Format format, int count) throws Exception {
        long bytes = 0;
        try (OnnxGraph g = new OnnxGraph("q4_blocks", file.resolveSibling(file.getFileName() + "_data"))) {
            String x = g.input("X", TensorData.FLOAT, 1, K);
            String[] products = new String[count];
            for (int w = 0; w < count; w++) {
                long seed = 0x9E3779B97F4A7C15L * (w + 1);
                long[] state = {seed};
                Int4BlockQuantizer q = new Int4BlockQuantizer(K, N, format, (n, column) -> {
                    for (int i = 0; i < column.length; i++) {
                        state[0] ^= state[0] << 13;
                        state[0] ^= state[0] >>> 7;
                        state[0] ^= state[0] << 17;
                        column[i] = ((state[0] >>> 40) / (float) (1 << 24) - 0.5f) * 0.05f;
                    }
                });
                String packed = g.initializer("W" + w + "_Q4", q.packedWeights());
                String scales = g.initializer("W" + w + "_scales", q.scales());
                TensorData zeroPoints = format.symmetric() ? null : q.zeroPoints();
                String[] inputs = zeroPoints == null ? new String[] {x, packed, scales}
                        : new String[] {x, packed, scales, g.initializer("W" + w + "_zero_points", zeroPoints)};
                bytes += q.packedWeights().byteLength() + q.scales().byteLength() + (zeroPoints == null ? 0 : zeroPoints.byteLength());
                products[w] = g.microsoftOp("MatMulNBits", inputs, intAttr("K", K), intAttr("N", N), intAttr("bits", 4),
                        intAttr("block_size", format.blockSize()), intAttr("accuracy_level", 4));
            }
            g.opNamed("Sum", "Y", products);
            g.output("Y", TensorData.FLOAT, 1, N);
            g.save(file, "MatMulNBits per q4 block format");
        }
        return bytes;
    }
}
