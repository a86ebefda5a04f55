package dev.medgemmafhir.engine.forge;

import dev.medgemmafhir.engine.convert.OnnxGraph;
import dev.medgemmafhir.engine.convert.TensorData;

import java.io.IOException;
import java.nio.file.Path;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;

/**
 * Layout A's {@code vision_encoder}: {@code pixel_values float32 [batch_size, 3, H, W]} ->
 * {@code image_features [batch_size, tokens_per_image, hidden]}. Patchify (Reshape/Transpose),
 * a patch projection with learned positions, RMSNorm and a projection into the text width,
 * standing in for SigLIP + Gemma 3's multimodal projector. Each output token depends on its
 * own patch's pixels in every channel, so wrong resizing, channel order or normalisation shows.
 */
final class VisionEncoderGraph {

    private VisionEncoderGraph() {
    }

    static void write(Path file, Path externalData, ForgedWeights w, WeightVariant variant, int q4AccuracyLevel) throws IOException {
        ForgeDims d = w.dims();
        int grid = d.imageSize() / d.patchSize();
        int p = d.patchSize();
        try (OnnxGraph g = new OnnxGraph("forged_gemma3_vision_encoder", externalData)) {
            TransformerOps ops = new TransformerOps(g, variant, q4AccuracyLevel);
            String pixels = g.input("pixel_values", FLOAT, DecoderGraph.BATCH, 3, d.imageSize(), d.imageSize());
            // [b, 3, H, W] -> [b, 3, gy, p, gx, p] -> [b, gy, gx, 3, p, p] -> [b, gy*gx, 3*p*p]
            String tiles = g.op("Reshape", new String[] {pixels, g.int64s(-1, 3, grid, p, grid, p)});
            String patchMajor = g.op("Transpose", new String[] {tiles}, intsAttr("perm", 0, 2, 4, 1, 3, 5));
            String patches = g.op("Reshape", new String[] {patchMajor, g.int64s(-1, (long) grid * grid, w.patchWidth())});
            String embedded = ops.linear(patches, "vision.patch_embedding.weight",
                    w.projection("vision.patch_embedding.weight", w.patchWidth(), d.hidden(), 1f));
            String positioned = g.op("Add", new String[] {embedded, g.initializer("vision.position_embedding.weight", w.patchPositions())});
            String normed = ops.rmsNorm(positioned, "multi_modal_projector.mm_soft_emb_norm.weight",
                    w.normWeight("multi_modal_projector.mm_soft_emb_norm.weight", d.hidden()));
            String projected = ops.linear(normed, "multi_modal_projector.mm_input_projection_weight",
                    w.projection("multi_modal_projector.mm_input_projection_weight", d.hidden(), d.hidden(), 1f));
            g.opNamed("Identity", "image_features", new String[] {projected});
            g.output("image_features", FLOAT, DecoderGraph.BATCH, d.tokensPerImage(), d.hidden());
            g.save(file, "Forged random-weight Gemma 3 vision encoder for tests; not a trained model.");
        }
    }
}
