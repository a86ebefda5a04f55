package dev.medgemmafhir.engine.forge;

import dev.medgemmafhir.engine.convert.Int4BlockQuantizer;
import dev.medgemmafhir.engine.convert.OnnxGraph;

import java.io.IOException;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;

/** The building blocks shared by the forged graphs: projections (fp32 or 4-bit) and RMSNorm. */
final class TransformerOps {

    static final int Q4_BLOCK_SIZE = 32;

    private final OnnxGraph g;
    private final WeightVariant variant;
    private final int q4AccuracyLevel;

    TransformerOps(OnnxGraph g, WeightVariant variant, int q4AccuracyLevel) {
        this.g = g;
        this.variant = variant;
        this.q4AccuracyLevel = q4AccuracyLevel;
    }

    /** {@code x @ W}: a MatMul in fp32, a {@code com.microsoft.MatMulNBits} in q4. */
    String linear(String x, String name, SeededFloats weight) throws IOException {
        if (variant == WeightVariant.FP32) {
            return g.op("MatMul", new String[] {x, g.initializer(name, weight)});
        }
        long[] dims = weight.dims();
        int k = Math.toIntExact(dims[0]);
        int n = Math.toIntExact(dims[1]);
        Int4BlockQuantizer q = new Int4BlockQuantizer(k, n, Q4_BLOCK_SIZE, false, (col, column) -> {
            for (int row = 0; row < k; row++) {
                column[row] = weight.at((long) row * n + col);
            }
        });
        // Naming follows ONNX Runtime's 4-bit quantizer: <weight>_Q4, <weight>_scales, <weight>_zero_points.
        String packed = g.initializer(name + "_Q4", q.packedWeights());
        String scales = g.initializer(name + "_scales", q.scales());
        String zeroPoints = g.initializer(name + "_zero_points", q.zeroPoints());
        return g.microsoftOp("MatMulNBits", new String[] {x, packed, scales, zeroPoints},
                intAttr("K", q.k), intAttr("N", q.n), intAttr("bits", Int4BlockQuantizer.BITS),
                intAttr("block_size", Q4_BLOCK_SIZE), intAttr("accuracy_level", q4AccuracyLevel));
    }

    /** {@code x / sqrt(mean(x^2) + eps) * w} over the last axis. */
    String rmsNorm(String x, String name, SeededFloats weight) throws IOException {
        String squared = g.op("Mul", new String[] {x, x});
        String meanSquare = g.op("ReduceMean", new String[] {squared}, intsAttr("axes", -1), intAttr("keepdims", 1));
        String rms = g.op("Sqrt", new String[] {g.op("Add", new String[] {meanSquare, g.floatScalar(ForgedWeights.NORM_EPS)})});
        String normalized = g.op("Div", new String[] {x, rms});
        return g.op("Mul", new String[] {normalized, g.initializer(name, weight)});
    }
}
