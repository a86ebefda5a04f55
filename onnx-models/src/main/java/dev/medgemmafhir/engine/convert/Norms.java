package dev.medgemmafhir.engine.convert;

import java.io.IOException;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;

/** Gemma's RMSNorm as plain ops, shared by the text graphs and the multimodal projector. */
final class Norms {

    private Norms() {
    }

    /** {@code x * (1 / sqrt(mean(x^2) + eps)) * scale}, scale already {@code 1 + w}. */
    static String gemmaRms(OnnxGraph g, String x, String scale, float eps) throws IOException {
        String meanSquare = g.op("ReduceMean", new String[] {g.op("Mul", new String[] {x, x})}, intsAttr("axes", -1), intAttr("keepdims", 1));
        String inverse = g.op("Reciprocal", new String[] {g.op("Sqrt", new String[] {g.op("Add", new String[] {meanSquare, g.floatScalar(eps)})})});
        return g.op("Mul", new String[] {g.op("Mul", new String[] {x, inverse}), scale});
    }
}
