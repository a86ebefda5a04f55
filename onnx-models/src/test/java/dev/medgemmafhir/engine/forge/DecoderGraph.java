package dev.medgemmafhir.engine.forge;

import dev.medgemmafhir.engine.convert.OnnxGraph;
import dev.medgemmafhir.engine.convert.TensorData;

import java.io.IOException;
import java.nio.file.Path;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;
import static dev.medgemmafhir.engine.convert.TensorData.BOOL;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;
import static dev.medgemmafhir.engine.convert.TensorData.INT64;

/**
 * A Gemma-shaped decoder from default-domain opset-17 ops (plus MatMulNBits in q4) with the real
 * exports' signature: {@code inputs_embeds} (layout A) or {@code input_ids} (layouts B, C),
 * {@code attention_mask [batch_size, total_sequence_length]}, {@code position_ids},
 * {@code past_key_values.{i}.key|value [batch_size, kv_heads, past_sequence_length, head_dim]}
 * -> {@code logits [batch_size, sequence_length, vocab]}, {@code present.{i}.key|value}.
 *
 * <p>Every input reaches the logits: the mask and the cache decide which keys each query sees,
 * position ids select the rotary angles, so an engine that mis-feeds any of them decodes
 * different tokens.
 */
final class DecoderGraph {

    static final String BATCH = "batch_size";
    static final String SEQUENCE = "sequence_length";
    static final String PAST_SEQUENCE = "past_sequence_length";
    static final String TOTAL_SEQUENCE = "total_sequence_length";

    /** Additive bias of a masked score: the lowest float, as Hugging Face's eager attention uses. */
    private static final float MASKED = -Float.MAX_VALUE;

    private DecoderGraph() {
    }

    /**
     * @param embedsInput true for layout A's {@code inputs_embeds}; false to embed {@code input_ids} inside
     */
    static void write(Path file, Path externalData, ForgedWeights w, WeightVariant variant, boolean embedsInput,
                      boolean numLogitsToKeep, int q4AccuracyLevel) throws IOException {
        ForgeDims d = w.dims();
        try (OnnxGraph g = new OnnxGraph("forged_gemma3_decoder", externalData)) {
            TransformerOps ops = new TransformerOps(g, variant, q4AccuracyLevel);

            String x;
            if (embedsInput) {
                x = g.input("inputs_embeds", FLOAT, BATCH, SEQUENCE, d.hidden());
            } else {
                String ids = g.input("input_ids", INT64, BATCH, SEQUENCE);
                x = EmbedTokensGraph.scaledEmbedding(g, w, ids);
            }
            String attentionMask = g.input("attention_mask", INT64, BATCH, TOTAL_SEQUENCE);
            String positionIds = g.input("position_ids", INT64, BATCH, SEQUENCE);
            String[] pastKeys = new String[d.layers()];
            String[] pastValues = new String[d.layers()];
            for (int i = 0; i < d.layers(); i++) {
                pastKeys[i] = g.input("past_key_values." + i + ".key", FLOAT, BATCH, d.kvHeads(), PAST_SEQUENCE, d.headDim());
                pastValues[i] = g.input("past_key_values." + i + ".value", FLOAT, BATCH, d.kvHeads(), PAST_SEQUENCE, d.headDim());
            }
            String keep = numLogitsToKeep ? g.input("num_logits_to_keep", INT64) : null;

            // Rotary tables gathered by position id: [batch, 1, seq, head_dim], broadcast over heads.
            String headsAxis = g.int64s(1);
            String cos = g.op("Unsqueeze", new String[] {
                    g.op("Gather", new String[] {g.initializer("rope.cos_table", w.ropeTable(true)), positionIds}), headsAxis});
            String sin = g.op("Unsqueeze", new String[] {
                    g.op("Gather", new String[] {g.initializer("rope.sin_table", w.ropeTable(false)), positionIds}), headsAxis});
            String sequenceLength = g.op("Shape", new String[] {x}, intAttr("start", 1), intAttr("end", 2));

            String maskBias = null;
            for (int layer = 0; layer < d.layers(); layer++) {
                String prefix = "model.layers." + layer + ".";
                String h = ops.rmsNorm(x, prefix + "input_layernorm.weight", w.normWeight(prefix + "input_layernorm.weight", d.hidden()));
                String q = heads(g, ops.linear(h, prefix + "self_attn.q_proj.weight",
                        w.projection(prefix + "self_attn.q_proj.weight", d.hidden(), d.heads() * d.headDim(), 1f)), d.heads(), d.headDim());
                String k = heads(g, ops.linear(h, prefix + "self_attn.k_proj.weight",
                        w.projection(prefix + "self_attn.k_proj.weight", d.hidden(), d.kvHeads() * d.headDim(), 1f)), d.kvHeads(), d.headDim());
                String v = heads(g, ops.linear(h, prefix + "self_attn.v_proj.weight",
                        w.projection(prefix + "self_attn.v_proj.weight", d.hidden(), d.kvHeads() * d.headDim(), 1f)), d.kvHeads(), d.headDim());
                q = rotate(g, q, cos, sin, d.headDim());
                k = rotate(g, k, cos, sin, d.headDim());

                // The cache hand-off: past + new along the sequence axis is both what attention reads and present.*.
                String keys = g.opNamed("Concat", "present." + layer + ".key", new String[] {pastKeys[layer], k}, intAttr("axis", 2));
                String values = g.opNamed("Concat", "present." + layer + ".value", new String[] {pastValues[layer], v}, intAttr("axis", 2));
                g.output(keys, FLOAT, BATCH, d.kvHeads(), TOTAL_SEQUENCE, d.headDim());
                g.output(values, FLOAT, BATCH, d.kvHeads(), TOTAL_SEQUENCE, d.headDim());
                if (maskBias == null) {
                    maskBias = maskBias(g, keys, sequenceLength, attentionMask);
                }

                String attended = attention(g, q, repeatKv(g, keys, d), repeatKv(g, values, d), maskBias, d);
                x = g.op("Add", new String[] {x, ops.linear(attended, prefix + "self_attn.o_proj.weight",
                        w.projection(prefix + "self_attn.o_proj.weight", d.heads() * d.headDim(), d.hidden(), 1f))});

                String h2 = ops.rmsNorm(x, prefix + "post_attention_layernorm.weight",
                        w.normWeight(prefix + "post_attention_layernorm.weight", d.hidden()));
                String gate = ops.linear(h2, prefix + "mlp.gate_proj.weight",
                        w.projection(prefix + "mlp.gate_proj.weight", d.hidden(), d.intermediate(), 1f));
                String up = ops.linear(h2, prefix + "mlp.up_proj.weight",
                        w.projection(prefix + "mlp.up_proj.weight", d.hidden(), d.intermediate(), 1f));
                String silu = g.op("Mul", new String[] {gate, g.op("Sigmoid", new String[] {gate})});
                String down = ops.linear(g.op("Mul", new String[] {silu, up}), prefix + "mlp.down_proj.weight",
                        w.projection(prefix + "mlp.down_proj.weight", d.intermediate(), d.hidden(), 1f));
                x = g.op("Add", new String[] {x, down});
            }
            x = ops.rmsNorm(x, "model.norm.weight", w.normWeight("model.norm.weight", d.hidden()));
            if (keep != null) {
                // Slice(x, -k, end, axis 1): k = 0 keeps every position, k = 1 only the last one.
                String start = g.op("Neg", new String[] {g.op("Unsqueeze", new String[] {keep, g.int64s(0)})});
                x = g.op("Slice", new String[] {x, start, g.int64s(Long.MAX_VALUE), g.int64s(1)});
            }
            String logits = ops.linear(x, "lm_head.weight", w.lmHead());
            g.opNamed("Identity", "logits", new String[] {logits});
            g.output("logits", FLOAT, BATCH, keep != null ? "num_logits" : SEQUENCE, d.vocab());
            g.save(file, "Forged random-weight Gemma 3 decoder for tests; not a trained model.");
        }
    }

    /** [batch, seq, heads*head_dim] -> [batch, heads, seq, head_dim]. */
    private static String heads(OnnxGraph g, String x, int heads, int headDim) throws IOException {
        String split = g.op("Reshape", new String[] {x, g.int64s(0, 0, heads, headDim)});
        return g.op("Transpose", new String[] {split}, intsAttr("perm", 0, 2, 1, 3));
    }

    /** x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x2, x1). */
    private static String rotate(OnnxGraph g, String x, String cos, String sin, int headDim) throws IOException {
        String axis = g.int64s(3);
        String firstHalf = g.op("Slice", new String[] {x, g.int64s(0), g.int64s(headDim / 2), axis});
        String secondHalf = g.op("Slice", new String[] {x, g.int64s(headDim / 2), g.int64s(headDim), axis});
        String rotated = g.op("Concat", new String[] {g.op("Neg", new String[] {secondHalf}), firstHalf}, intAttr("axis", 3));
        return g.op("Add", new String[] {g.op("Mul", new String[] {x, cos}), g.op("Mul", new String[] {rotated, sin})});
    }

    /**
     * Additive bias [batch, 1, seq, total]: query i (absolute index total - seq + i) may see key j
     * when j <= that index and attention_mask[b, j] is 1. A mask whose length differs from the
     * cache + new tokens fails to broadcast, as it would in the real graphs.
     */
    private static String maskBias(OnnxGraph g, String keys, String sequenceLength, String attentionMask) throws IOException {
        String scalarAxis = g.int64s(0);
        String total = g.op("Squeeze", new String[] {g.op("Shape", new String[] {keys}, intAttr("start", 2), intAttr("end", 3)), scalarAxis});
        String seq = g.op("Squeeze", new String[] {sequenceLength, scalarAxis});
        String one = g.int64Scalar(1);
        String keyPositions = g.op("Range", new String[] {g.int64Scalar(0), total, one});
        String queryPositions = g.op("Range", new String[] {g.op("Sub", new String[] {total, seq}), total, one});
        String causal = g.op("LessOrEqual", new String[] {
                g.op("Unsqueeze", new String[] {keyPositions, g.int64s(0)}),
                g.op("Unsqueeze", new String[] {queryPositions, g.int64s(1)})});
        String padding = g.op("Cast", new String[] {g.op("Unsqueeze", new String[] {attentionMask, g.int64s(1, 2)})}, intAttr("to", BOOL));
        String allowed = g.op("And", new String[] {causal, padding});
        return g.op("Where", new String[] {allowed, g.floatScalar(0f), g.floatScalar(MASKED)});
    }

    /** Grouped KV heads: [b, kv, t, d] -> [b, heads, t, d], each kv head serving heads/kv query heads in a row. */
    private static String repeatKv(OnnxGraph g, String kv, ForgeDims d) throws IOException {
        int groups = d.heads() / d.kvHeads();
        if (groups == 1) {
            return kv;
        }
        String expanded = g.op("Expand", new String[] {g.op("Unsqueeze", new String[] {kv, g.int64s(2)}), g.int64s(1, 1, groups, 1, 1)});
        return g.op("Reshape", new String[] {expanded, g.int64s(0, d.heads(), -1, d.headDim())});
    }

    /** softmax(q k^T / sqrt(head_dim) + bias) v, heads merged back to [batch, seq, heads*head_dim]. */
    private static String attention(OnnxGraph g, String q, String keys, String values, String bias, ForgeDims d) throws IOException {
        String scores = g.op("MatMul", new String[] {q, g.op("Transpose", new String[] {keys}, intsAttr("perm", 0, 1, 3, 2))});
        String scaled = g.op("Mul", new String[] {scores, g.floatScalar((float) (1 / Math.sqrt(d.headDim())))});
        String probabilities = g.op("Softmax", new String[] {g.op("Add", new String[] {scaled, bias})}, intAttr("axis", -1));
        String context = g.op("Transpose", new String[] {g.op("MatMul", new String[] {probabilities, values})}, intsAttr("perm", 0, 2, 1, 3));
        return g.op("Reshape", new String[] {context, g.int64s(0, 0, d.heads() * d.headDim())});
    }
}
