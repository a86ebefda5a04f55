package dev.medgemmafhir.engine.convert;

import java.io.IOException;
import java.nio.file.Path;

import static dev.medgemmafhir.engine.convert.OnnxGraph.floatAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;

/**
 * Layout A's {@code vision_encoder}: {@code pixel_values [batch, 3, H, W]} ->
 * {@code image_features [batch, mm_tokens_per_image, text hidden]}, as transformers'
 * {@code SiglipVisionModel} + {@code Gemma3MultiModalProjector} compute it: patches by a strided
 * convolution (row-major), learned position embedding, pre-LayerNorm encoder layers with biased
 * projections and a GELU-tanh MLP, no attention mask, {@code post_layernorm}; then average pooling
 * of the patch grid to {@code mm_tokens_per_image}, Gemma's RMSNorm with the vision eps, and
 * {@code x @ mm_input_projection_weight}. In q4 the encoder's linear layers are 4-bit; the
 * convolution and the projector stay fp32.
 */
final class GemmaVisionGraph {

    private final GemmaConfig.Vision v;
    private final int textHidden;
    private final Weights weights;
    /** The 4-bit block format of the linear layers, or null for fp32. */
    private final Q4Format q4;

    GemmaVisionGraph(GemmaConfig config, Weights weights, Q4Format q4) {
        this.v = config.vision();
        this.textHidden = config.text().hidden();
        this.weights = weights;
        this.q4 = q4;
    }

    void write(Path file, Path externalData, String producer) throws IOException {
        int c = v.hidden();
        int p = v.patchSize();
        int side = v.patchesPerSide();
        int patches = side * side;
        int headDim = c / v.heads();
        Checkpoint ck = weights.checkpoint();
        try (OnnxGraph g = new OnnxGraph("gemma3_vision_encoder", externalData)) {
            String pixels = g.input("pixel_values", FLOAT, GemmaTextGraphs.BATCH, v.channels(), v.imageSize(), v.imageSize());
            String conv = g.op("Conv", new String[] {pixels,
                    g.initializer("vision.embeddings.patch_embedding.weight",
                            weights.fp32(ck.tensor("vision.embeddings.patch_embedding.weight", c, v.channels(), p, p))),
                    g.initializer("vision.embeddings.patch_embedding.bias",
                            weights.fp32(ck.tensor("vision.embeddings.patch_embedding.bias", c)))},
                    intsAttr("kernel_shape", p, p), intsAttr("strides", p, p));
            // [b, C, side, side] -> [b, C, patches] -> [b, patches, C]
            String flat = g.op("Transpose", new String[] {g.op("Reshape", new String[] {conv, g.int64s(0, c, patches)})},
                    intsAttr("perm", 0, 2, 1));
            String x = g.op("Add", new String[] {flat, g.initializer("vision.embeddings.position_embedding.weight",
                    weights.fp32(ck.tensor("vision.embeddings.position_embedding.weight", patches, c)))});

            for (int layer = 0; layer < v.layers(); layer++) {
                String pre = "vision.encoder.layers." + layer + ".";
                String residual = x;
                String h = layerNorm(g, x, pre + "layer_norm1", c);
                String q = heads(g, linear(g, h, pre + "self_attn.q_proj", c, c), headDim);
                String k = heads(g, linear(g, h, pre + "self_attn.k_proj", c, c), headDim);
                String val = heads(g, linear(g, h, pre + "self_attn.v_proj", c, c), headDim);
                String scores = g.op("Mul", new String[] {
                        g.op("MatMul", new String[] {q, g.op("Transpose", new String[] {k}, intsAttr("perm", 0, 1, 3, 2))}),
                        g.floatScalar((float) Math.pow(headDim, -0.5))});
                String probabilities = g.op("Softmax", new String[] {scores}, intAttr("axis", -1));
                String context = g.op("Transpose", new String[] {g.op("MatMul", new String[] {probabilities, val})},
                        intsAttr("perm", 0, 2, 1, 3));
                String merged = g.op("Reshape", new String[] {context, g.int64s(0, 0, c)});
                x = g.op("Add", new String[] {residual, linear(g, merged, pre + "self_attn.out_proj", c, c)});
                residual = x;
                String h2 = layerNorm(g, x, pre + "layer_norm2", c);
                String mlp = linear(g, GemmaTextGraphs.geluTanh(g, linear(g, h2, pre + "mlp.fc1", v.intermediate(), c)),
                        pre + "mlp.fc2", c, v.intermediate());
                x = g.op("Add", new String[] {residual, mlp});
            }
            x = layerNorm(g, x, "vision.post_layernorm", c);

            // Projector: [b, patches, C] -> [b, C, side, side] -> AvgPool -> [b, tokens, C] -> RMSNorm -> @ W.
            int kernel = side / v.tokensPerSide();
            String grid = g.op("Reshape", new String[] {g.op("Transpose", new String[] {x}, intsAttr("perm", 0, 2, 1)),
                    g.int64s(0, c, side, side)});
            String pooled = g.op("AveragePool", new String[] {grid}, intsAttr("kernel_shape", kernel, kernel), intsAttr("strides", kernel, kernel));
            String tokens = g.op("Transpose", new String[] {g.op("Reshape", new String[] {pooled, g.int64s(0, c, v.mmTokensPerImage())})},
                    intsAttr("perm", 0, 2, 1));
            String norm = g.initializer("projector.mm_soft_emb_norm.weight_plus_one",
                    weights.plusOne(ck.tensor("projector.mm_soft_emb_norm.weight", c)));
            String normed = Norms.gemmaRms(g, tokens, norm, (float) v.layerNormEps());
            String projected = g.op("MatMul", new String[] {normed, g.initializer("projector.mm_input_projection_weight",
                    weights.fp32(ck.tensor("projector.mm_input_projection_weight", c, textHidden)))});
            g.opNamed("Identity", "image_features", new String[] {projected});
            g.output("image_features", FLOAT, GemmaTextGraphs.BATCH, v.mmTokensPerImage(), textHidden);
            g.save(file, "Gemma 3 SigLIP vision encoder and multimodal projector converted from a Hugging Face checkpoint", producer);
        }
    }

    private String linear(OnnxGraph g, String x, String name, int out, int in) throws IOException {
        Checkpoint ck = weights.checkpoint();
        String y = Projections.linear(g, weights, x, name + ".weight", ck.tensor(name + ".weight", out, in), q4);
        return g.op("Add", new String[] {y, g.initializer(name + ".bias", weights.fp32(ck.tensor(name + ".bias", out)))});
    }

    private String layerNorm(OnnxGraph g, String x, String name, int width) throws IOException {
        Checkpoint ck = weights.checkpoint();
        return g.op("LayerNormalization", new String[] {x,
                g.initializer(name + ".weight", weights.fp32(ck.tensor(name + ".weight", width))),
                g.initializer(name + ".bias", weights.fp32(ck.tensor(name + ".bias", width)))},
                intAttr("axis", -1), floatAttr("epsilon", (float) v.layerNormEps()));
    }

    private String heads(OnnxGraph g, String x, int headDim) throws IOException {
        String split = g.op("Reshape", new String[] {x, g.int64s(0, 0, v.heads(), headDim)});
        return g.op("Transpose", new String[] {split}, intsAttr("perm", 0, 2, 1, 3));
    }
}
