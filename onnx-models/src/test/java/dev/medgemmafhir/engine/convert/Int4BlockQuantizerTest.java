package dev.medgemmafhir.engine.convert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The 4-bit blocks of every {@link Q4Format}: dequantized as MatMulNBits does ({@code (code - zero_point) * scale},
 * zero point 8 when a node has no zero_points input), each block's error is bounded by its own range, the largest
 * weight of a symmetric block comes back exactly, and ONNX Runtime's MatMulNBits computes the same product as
 * this reading of the blocks (so the rule the bounds are checked under is the runtime's).
 */
class Int4BlockQuantizerTest {

    private static final int N = 5;

    @TempDir
    Path temp;

    /** K a multiple of the block, and K that is not (the last block zero-padded). */
    private static int[] ks(int blockSize) {
        return new int[] {3 * blockSize, 2 * blockSize + 6};
    }

    @Test
    void everyBlockStaysWithinHalfAStepOfItsRangeWithZeroPoints() throws IOException {
        for (int blockSize : Q4Format.BLOCK_SIZES) {
            for (int k : ks(blockSize)) {
                float[][] w = weights(k, blockSize);
                Blocks q = Blocks.of(w, new Q4Format(blockSize, false));
                for (int col = 0; col < N; col++) {
                    for (int b = 0; b < q.blocksPerColumn; b++) {
                        float min = 0f;
                        float max = 0f;
                        for (int row = b * blockSize; row < Math.min(k, (b + 1) * blockSize); row++) {
                            min = Math.min(min, w[col][row]);
                            max = Math.max(max, w[col][row]);
                        }
                        // One step is (max - min) / 15 over the block's range (0 included); rounding costs at most half.
                        double bound = (max - min) / 30.0 * (1 + 1e-5) + 1e-7;
                        for (int row = b * blockSize; row < Math.min(k, (b + 1) * blockSize); row++) {
                            double error = Math.abs(q.dequantized(col, row) - w[col][row]);
                            assertTrue(error <= bound, "block " + blockSize + " K " + k + " column " + col + " row " + row
                                    + ": error " + error + " > " + bound);
                        }
                    }
                    assertPaddingIsZero(q, col, k);
                }
            }
        }
    }

    @Test
    void symmetricBlocksKeepTheirLargestWeightExactlyAndTheRestWithinHalfAStep() throws IOException {
        for (int blockSize : Q4Format.BLOCK_SIZES) {
            for (int k : ks(blockSize)) {
                float[][] w = weights(k, blockSize);
                Blocks q = Blocks.of(w, new Q4Format(blockSize, true));
                assertEquals(null, q.zeroPoints, "a symmetric block stores no zero point");
                for (int col = 0; col < N; col++) {
                    for (int b = 0; b < q.blocksPerColumn; b++) {
                        int end = Math.min(k, (b + 1) * blockSize);
                        float extreme = 0f;
                        for (int row = b * blockSize; row < end; row++) {
                            extreme = Math.abs(w[col][row]) > Math.abs(extreme) ? w[col][row] : extreme;
                        }
                        double step = Math.abs(extreme) / 8.0;
                        for (int row = b * blockSize; row < end; row++) {
                            float v = w[col][row];
                            double error = Math.abs(q.dequantized(col, row) - v);
                            if (v == extreme && v != 0f) {
                                assertTrue(error <= 1e-6 * Math.abs(v), "block " + blockSize + " K " + k + ": the largest weight "
                                        + v + " came back as " + q.dequantized(col, row));
                                // It takes the side with 8 steps (code 0 = -8 around the zero point), as MLAS and Q4_0 put it.
                                assertEquals(0, q.code(col, row), "block " + blockSize + " K " + k + ": the largest weight's code");
                            }
                            // Codes reach 8 steps towards the largest weight's sign and 7 the other way.
                            double clipped = Math.signum(v) != Math.signum(extreme) ? Math.abs(v) - 7 * step : 0;
                            double bound = Math.max(step / 2, clipped) * (1 + 1e-5) + 1e-7;
                            assertTrue(error <= bound, "block " + blockSize + " K " + k + " column " + col + " row " + row
                                    + ": error " + error + " > " + bound);
                        }
                    }
                    assertPaddingIsZero(q, col, k);
                }
            }
        }
    }

    @Test
    void symmetricBlocksStoreLessAndErrMoreThanBlocksWithZeroPointsOnSkewedWeights() throws IOException {
        // All weights of one sign: a zero point spends all 16 codes on them, a symmetric block only 8 (or 9).
        int k = 64;
        float[][] w = new float[N][k];
        Random random = new Random(7);
        for (float[] column : w) {
            for (int i = 0; i < k; i++) {
                column[i] = 0.5f + random.nextFloat();
            }
        }
        Blocks asymmetric = Blocks.of(w, new Q4Format(32, false));
        Blocks symmetric = Blocks.of(w, new Q4Format(32, true));
        assertTrue(symmetric.meanSquaredError(w) > 2 * asymmetric.meanSquaredError(w),
                symmetric.meanSquaredError(w) + " vs " + asymmetric.meanSquaredError(w));
        assertEquals(5.125, new Q4Format(32, false).bitsPerWeight(), 1e-12);
        assertEquals(4.5, new Q4Format(64, true).bitsPerWeight(), 1e-12);
    }

    @Test
    void onnxRuntimesMatMulNBitsComputesTheProductOfTheseBlocks() throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        Random random = new Random(3);
        for (int blockSize : Q4Format.BLOCK_SIZES) {
            for (int k : ks(blockSize)) {
                for (boolean symmetric : new boolean[] {false, true}) {
                    Q4Format format = new Q4Format(blockSize, symmetric);
                    float[][] w = weights(k, blockSize);
                    Int4BlockQuantizer quantizer = quantizer(w, format);
                    Path file = temp.resolve("matmul-" + blockSize + "-" + k + "-" + symmetric + ".onnx");
                    try (OnnxGraph g = new OnnxGraph("matmulnbits", null)) {
                        String a = g.input("A", TensorData.FLOAT, 3, k);
                        String packed = g.initializer("W_Q4", quantizer.packedWeights());
                        String scales = g.initializer("W_scales", quantizer.scales());
                        String[] inputs = symmetric ? new String[] {a, packed, scales}
                                : new String[] {a, packed, scales, g.initializer("W_zero_points", quantizer.zeroPoints())};
                        String y = g.microsoftOp("MatMulNBits", inputs, OnnxGraph.intAttr("K", k), OnnxGraph.intAttr("N", N),
                                OnnxGraph.intAttr("bits", 4), OnnxGraph.intAttr("block_size", blockSize));
                        g.opNamed("Identity", "Y", new String[] {y});
                        g.output("Y", TensorData.FLOAT, 3, N);
                        g.save(file, "one MatMulNBits");
                    }
                    Blocks blocks = Blocks.of(w, format);
                    float[] x = new float[3 * k];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) random.nextGaussian();
                    }
                    float[][] actual;
                    try (OrtSession session = env.createSession(file.toString(), new OrtSession.SessionOptions());
                         OnnxTensor input = OnnxTensor.createTensor(env, FloatBuffer.wrap(x), new long[] {3, k});
                         OrtSession.Result r = session.run(Map.of("A", input))) {
                        actual = (float[][]) r.get(0).getValue();
                    }
                    for (int m = 0; m < 3; m++) {
                        for (int col = 0; col < N; col++) {
                            double expected = 0;
                            double magnitude = 0;
                            for (int row = 0; row < k; row++) {
                                expected += x[m * k + row] * blocks.dequantized(col, row);
                                magnitude += Math.abs(x[m * k + row] * blocks.dequantized(col, row));
                            }
                            assertEquals(expected, actual[m][col], 1e-5 * magnitude + 1e-6, format + " K " + k + " row " + m + " column " + col);
                        }
                    }
                }
            }
        }
    }

    @Test
    void blockSizesOutsideTheListAreRefused() {
        for (int size : new int[] {0, 8, 48, 512}) {
            ConversionException e = assertThrows(ConversionException.class, () -> new Q4Format(size, true));
            assertTrue(e.getMessage().contains("16, 32, 64, 128, 256"), e.getMessage());
        }
    }

    /**
     * Gaussian weights with what real layers have and a fixed range does not: an outlier column, a block of one
     * sign, an all-zero block.
     */
    private static float[][] weights(int k, int blockSize) {
        Random random = new Random(k * 31L + blockSize);
        float[][] w = new float[N][k];
        for (int col = 0; col < N; col++) {
            for (int row = 0; row < k; row++) {
                w[col][row] = (float) (0.02 * random.nextGaussian());
            }
        }
        w[1][k / 2] = 0.9f;
        w[2][3] = -0.7f;
        for (int row = 0; row < Math.min(k, blockSize); row++) {
            w[3][row] = -Math.abs(w[3][row]);
            w[4][row] = 0f;
        }
        return w;
    }

    private static Int4BlockQuantizer quantizer(float[][] w, Q4Format format) {
        int k = w[0].length;
        return new Int4BlockQuantizer(k, N, format, (n, column) -> System.arraycopy(w[n], 0, column, 0, k));
    }

    private static void assertPaddingIsZero(Blocks q, int col, int k) {
        for (int row = k; row < q.blocksPerColumn * q.blockSize; row++) {
            assertEquals(0f, q.dequantized(col, row), 0f, "padding row " + row);
        }
    }

    /** The quantizer's output read back as MatMulNBits reads it. */
    private record Blocks(int blockSize, int blocksPerColumn, int blobSize, byte[] packed, float[] scales, byte[] zeroPoints,
                          int zeroPointBytesPerColumn) {

        static Blocks of(float[][] w, Q4Format format) throws IOException {
            Int4BlockQuantizer q = quantizer(w, format);
            byte[] packed = bytes(q.packedWeights());
            ByteBuffer scaleBytes = ByteBuffer.wrap(bytes(q.scales())).order(ByteOrder.LITTLE_ENDIAN);
            float[] scales = new float[scaleBytes.remaining() / 4];
            scaleBytes.asFloatBuffer().get(scales);
            byte[] zeroPoints = format.symmetric() ? null : bytes(q.zeroPoints());
            assertEquals((long) N * q.blocksPerColumn * format.blockSize() / 2, packed.length);
            assertEquals(N * q.blocksPerColumn, scales.length);
            return new Blocks(format.blockSize(), q.blocksPerColumn, q.blobSize, packed, scales, zeroPoints, q.zeroPointBytesPerColumn);
        }

        int code(int col, int row) {
            int i = row % blockSize;
            int packedByte = packed[(col * blocksPerColumn + row / blockSize) * blobSize + i / 2] & 0xff;
            return i % 2 == 0 ? packedByte & 0x0f : packedByte >>> 4;
        }

        float dequantized(int col, int row) {
            int b = row / blockSize;
            int code = code(col, row);
            int zeroPoint = zeroPoints == null ? Int4BlockQuantizer.SYMMETRIC_ZERO_POINT
                    : ((zeroPoints[col * zeroPointBytesPerColumn + b / 2] & 0xff) >>> (4 * (b % 2))) & 0x0f;
            return (code - zeroPoint) * scales[col * blocksPerColumn + b];
        }

        double meanSquaredError(float[][] w) {
            double sum = 0;
            int count = 0;
            for (int col = 0; col < w.length; col++) {
                for (int row = 0; row < w[col].length; row++) {
                    double d = dequantized(col, row) - w[col][row];
                    sum += d * d;
                    count++;
                }
            }
            return sum / count;
        }

        private static byte[] bytes(TensorData data) throws IOException {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            data.writeTo(buffer -> {
                while (buffer.hasRemaining()) {
                    out.write(buffer.get());
                }
            });
            assertEquals(data.byteLength(), out.size());
            return out.toByteArray();
        }
    }
}
