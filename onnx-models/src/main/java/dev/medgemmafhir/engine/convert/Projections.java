package dev.medgemmafhir.engine.convert;

import java.io.IOException;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;

/** Linear layers: {@code MatMul} on the transposed fp32 weight, or {@code com.microsoft.MatMulNBits} in q4. */
final class Projections {

    private Projections() {
    }

    /** {@code x @ W^T} for a torch weight {@code [out, in]} stored under {@code name}; {@code q4} null means fp32. */
    static String linear(OnnxGraph g, Weights weights, String x, String name, SafetensorsFile.Tensor t, Q4Format q4) throws IOException {
        if (q4 == null) {
            return g.op("MatMul", new String[] {x, g.initializer(name, weights.transposed(t))});
        }
        Int4BlockQuantizer q = weights.quantized(t, q4);
        // Naming follows ONNX Runtime's 4-bit quantizer: <weight>_Q4, <weight>_scales, <weight>_zero_points.
        String packed = g.initializer(name + "_Q4", q.packedWeights());
        String scales = g.initializer(name + "_scales", q.scales());
        String[] inputs = q4.symmetric()
                ? new String[] {x, packed, scales}
                : new String[] {x, packed, scales, g.initializer(name + "_zero_points", q.zeroPoints())};
        return g.microsoftOp("MatMulNBits", inputs, intAttr("K", q.k), intAttr("N", q.n), intAttr("bits", Int4BlockQuantizer.BITS),
                intAttr("block_size", q.blockSize));
    }
}
