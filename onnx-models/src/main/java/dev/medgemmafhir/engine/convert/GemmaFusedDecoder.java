package dev.medgemmafhir.engine.convert;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import dev.medgemmafhir.engine.model.GraphNames;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.medgemmafhir.engine.convert.GemmaTextGraphs.BATCH;
import static dev.medgemmafhir.engine.convert.GemmaTextGraphs.PAST_SEQUENCE;
import static dev.medgemmafhir.engine.convert.GemmaTextGraphs.SEQUENCE;
import static dev.medgemmafhir.engine.convert.GemmaTextGraphs.TOTAL_SEQUENCE;
import static dev.medgemmafhir.engine.convert.OnnxGraph.MICROSOFT_DOMAIN;
import static dev.medgemmafhir.engine.convert.OnnxGraph.floatAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.graphAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.TensorData.BOOL;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;
import static dev.medgemmafhir.engine.convert.TensorData.INT64;

/**
 * Gemma 3's decoder on ONNX Runtime's fused operators ({@code --attention fused}), computing what
 * {@link GemmaTextGraphs#writeDecoder} computes with fewer, larger kernels:
 * <ul>
 *   <li>{@code com.microsoft.GroupQueryAttention} per layer: grouped KV heads, scale
 *       {@code query_pre_attn_scalar^-0.5} (folded into the q norm's weights, the operator's own scale is 1), soft-capping when configured, and on sliding layers
 *       {@code local_window_size = sliding_window - 1} (the key itself plus the window's earlier keys);
 *       KV cache [batch, kv_heads, length, head_dim] as in the standard graph, and, when the caller
 *       passes the same buffer as past and (pinned) present, GroupQueryAttention's shared-buffer
 *       mode, which writes only the new columns;</li>
 *   <li>q/k norms on the projections, then {@code com.microsoft.RotaryEmbedding} (rotate-half) with
 *       each layer type's base and scaling, GroupQueryAttention's own rotary switched off: its
 *       positions would be counted from 0 in the cache, while these follow {@code position_ids}
 *       (1-based like transformers, and per row of a left-padded batch). The cos/sin tables are
 *       computed in the graph for this call's positions only, so no [max_positions, head_dim]
 *       table is stored;</li>
 *   <li>{@code SimplifiedLayerNormalization} / {@code com.microsoft.SkipSimplifiedLayerNormalization}
 *       with Gemma's {@code 1 + w} folded into the scales, the residual adds fused into the
 *       pre-attention and pre-feedforward norms;</li>
 *   <li>{@code com.microsoft.FastGelu} (the tanh approximation Gemma uses);</li>
 *   <li>logits of the last position only ([batch, 1, vocab]).</li>
 * </ul>
 * Inputs are the standard graph's except {@code num_logits_to_keep}: {@code attention_mask} still
 * drives everything (GroupQueryAttention's {@code seqlens_k} and {@code total_sequence_length} are
 * derived from its length, its zeros become an additive {@code attention_bias}), so the engine and
 * a left-padded batch feed both graphs alike. On sliding layers the cache may be shorter than the
 * mask: columns marked {@link GraphNames#SLIDING_EVICTED_MASK_VALUE} are attended by the global
 * layers but are no longer in the sliding layers' cache (their past and present are
 * {@code sliding_*_sequence_length} long), which lets the engine keep those layers' cache to their
 * window; a 0/1 mask (transformers.js) marks none.
 *
 * <p>GroupQueryAttention is causal by construction, so it cannot express Gemma 3's bidirectional
 * attention among the tokens of one image. In the image + text decoder each layer's attention is
 * therefore an {@code If}: when the mask marks image tokens ({@link GraphNames#IMAGE_TOKEN_MASK_VALUE},
 * only in a prefill holding an image), the attention output is computed by the standard graph's
 * attention from GroupQueryAttention's present keys and values with the image-aware masks; any
 * other call uses GroupQueryAttention's output. The cache is the same either way.
 */
final class GemmaFusedDecoder {

    /** Symbolic cache lengths of the sliding layers, which may hold fewer columns than the global ones. */
    private static final String SLIDING_PAST_SEQUENCE = "sliding_past_sequence_length";
    private static final String SLIDING_TOTAL_SEQUENCE = "sliding_total_sequence_length";
    /** The additive bias of a padding key: the lowest float, as in the standard graph. */
    private static final float MASKED = -Float.MAX_VALUE;
    private static final int INT32 = 6;

    private final GemmaTextGraphs text;
    private final GemmaConfig.Text c;

    GemmaFusedDecoder(GemmaTextGraphs text) {
        this.text = text;
        this.c = text.config();
    }

    void write(Path file, Path externalData, boolean embedsInput, String producer) throws IOException {
        try (OnnxGraph g = new OnnxGraph("gemma3_decoder_fused", externalData)) {
            String x = embedsInput
                    ? g.input("inputs_embeds", FLOAT, BATCH, SEQUENCE, c.hidden())
                    : text.scaledEmbedding(g, g.input("input_ids", INT64, BATCH, SEQUENCE));
            String mask = g.input("attention_mask", INT64, BATCH, TOTAL_SEQUENCE);
            String positionIds = g.input("position_ids", INT64, BATCH, SEQUENCE);
            String[] pastKeys = new String[c.layers()];
            String[] pastValues = new String[c.layers()];
            for (int i = 0; i < c.layers(); i++) {
                String past = c.slidingLayers()[i] ? SLIDING_PAST_SEQUENCE : PAST_SEQUENCE;
                pastKeys[i] = g.input("past_key_values." + i + ".key", FLOAT, BATCH, c.kvHeads(), past, c.headDim());
                pastValues[i] = g.input("past_key_values." + i + ".value", FLOAT, BATCH, c.kvHeads(), past, c.headDim());
            }

            // GroupQueryAttention's lengths from the mask: every row of a (left-padded) batch spans the whole mask.
            String total = GemmaTextGraphs.totalLength(g, mask);
            String batch = g.op("Shape", new String[] {mask}, intAttr("start", 0), intAttr("end", 1));
            String totalI32 = g.op("Cast", new String[] {total}, intAttr("to", INT32));
            String seqlensK = g.op("Cast", new String[] {g.op("Expand", new String[] {
                    g.op("Sub", new String[] {total, g.int64Scalar(1)}), batch})}, intAttr("to", INT32));
            String sequence = g.op("Shape", new String[] {positionIds}, intAttr("start", 1), intAttr("end", 2));
            String padding = paddingBias(g, mask, batch, sequence);
            Lengths global = new Lengths(total, seqlensK, totalI32, padding);
            Lengths local = anySliding() ? slidingLengths(g, mask, total, batch, sequence) : global;

            // Rotary tables for exactly this call's positions; RotaryEmbedding indexes them 0..batch*seq-1.
            String flatPositions = g.op("Reshape", new String[] {positionIds, g.int64s(-1)});
            String rotaryIndex = g.op("Reshape", new String[] {
                    g.op("Range", new String[] {g.int64Scalar(0), g.op("Size", new String[] {positionIds}), g.int64Scalar(1)}),
                    g.op("Shape", new String[] {positionIds})});
            String[] globalRope = rotaryTables(g, "rope.global.inv_freq", flatPositions, c.globalRope());
            String[] localRope = rotaryTables(g, "rope.sliding.inv_freq", flatPositions, c.localRope());

            String hasImage = null;
            String[] imageMasks = null;
            if (embedsInput) {
                String marked = g.op("Cast", new String[] {g.op("Equal", new String[] {mask,
                        g.int64Scalar(GraphNames.IMAGE_TOKEN_MASK_VALUE)})}, intAttr("to", INT64));
                hasImage = g.op("Cast", new String[] {g.op("ReduceMax", new String[] {
                        g.op("Reshape", new String[] {marked, g.int64s(-1)})}, intAttr("keepdims", 0))}, intAttr("to", BOOL));
                imageMasks = text.masks(g, total, sequence, mask, true);
            }

            String residual = x;
            String h = simplifiedNorm(g, x, text.normScale(g, "text.layers.0.input_layernorm.weight", c.hidden()));
            for (int layer = 0; layer < c.layers(); layer++) {
                String p = "text.layers." + layer + ".";
                boolean sliding = c.slidingLayers()[layer];
                String q = text.linear(g, h, p + "self_attn.q_proj.weight", c.heads() * c.headDim(), c.hidden());
                String k = text.linear(g, h, p + "self_attn.k_proj.weight", c.kvHeads() * c.headDim(), c.hidden());
                String v = text.linear(g, h, p + "self_attn.v_proj.weight", c.kvHeads() * c.headDim(), c.hidden());
                // The attention scale is folded into the q norm (rotary is linear, so it commutes): with scale 1 ONNX
                // Runtime's CPU GroupQueryAttention computes a decode step's q.k with its M=1 kernel instead of
                // repacking every head's keys (BENCHMARKS.md, "GroupQueryAttention's scale").
                q = headNorm(g, q, c.heads(), text.normScale(g, p + "self_attn.q_norm.weight", c.headDim(), text.attentionScale()));
                k = headNorm(g, k, c.kvHeads(), text.normScale(g, p + "self_attn.k_norm.weight", c.headDim()));
                String[] rope = sliding ? localRope : globalRope;
                q = g.microsoftOp("RotaryEmbedding", new String[] {q, rotaryIndex, rope[0], rope[1]});
                k = g.microsoftOp("RotaryEmbedding", new String[] {k, rotaryIndex, rope[0], rope[1]});

                String attended = g.fresh("gqa");
                String presentKey = "present." + layer + ".key";
                String presentValue = "present." + layer + ".value";
                Lengths lengths = sliding ? local : global;
                g.multiOutputOp(MICROSOFT_DOMAIN, "GroupQueryAttention", new String[] {attended, presentKey, presentValue},
                        new String[] {q, k, v, pastKeys[layer], pastValues[layer], lengths.seqlensK(), lengths.totalI32(), "", "", "",
                                lengths.padding()},
                        gqaAttributes(sliding));
                String present = sliding ? SLIDING_TOTAL_SEQUENCE : TOTAL_SEQUENCE;
                g.output(presentKey, FLOAT, BATCH, c.kvHeads(), present, c.headDim());
                g.output(presentValue, FLOAT, BATCH, c.kvHeads(), present, c.headDim());
                if (hasImage != null) {
                    // Images are marked only in a prefill, which evicts nothing: both lengths are the mask's there.
                    attended = imageAware(g, hasImage, attended, q, presentKey, presentValue, lengths.total(),
                            sliding ? imageMasks[1] : imageMasks[0]);
                }

                String o = text.linear(g, attended, p + "self_attn.o_proj.weight", c.hidden(), c.heads() * c.headDim());
                o = simplifiedNorm(g, o, text.normScale(g, p + "post_attention_layernorm.weight", c.hidden()));
                String[] normed = skipNorm(g, o, residual, text.normScale(g, p + "pre_feedforward_layernorm.weight", c.hidden()));
                String h2 = normed[0];
                residual = normed[1];
                String gate = text.linear(g, h2, p + "mlp.gate_proj.weight", c.intermediate(), c.hidden());
                String up = text.linear(g, h2, p + "mlp.up_proj.weight", c.intermediate(), c.hidden());
                String act = g.microsoftOp("FastGelu", new String[] {gate});
                String down = text.linear(g, g.op("Mul", new String[] {act, up}), p + "mlp.down_proj.weight", c.hidden(), c.intermediate());
                down = simplifiedNorm(g, down, text.normScale(g, p + "post_feedforward_layernorm.weight", c.hidden()));
                String next = layer + 1 < c.layers() ? "text.layers." + (layer + 1) + ".input_layernorm.weight" : "text.norm.weight";
                normed = skipNorm(g, down, residual, text.normScale(g, next, c.hidden()));
                h = normed[0];
                residual = normed[1];
            }
            // Only the last position's logits: no [seq, vocab] tensor for a long prompt.
            String last = g.op("Slice", new String[] {h, g.int64s(-1), g.int64s(Long.MAX_VALUE), g.int64s(1)});
            String logits = text.head(g, last);
            if (c.finalLogitSoftcapping() != null) {
                logits = GemmaTextGraphs.softcap(g, logits, c.finalLogitSoftcapping());
            }
            g.opNamed("Identity", "logits", new String[] {logits});
            g.output("logits", FLOAT, BATCH, 1, c.vocab());
            g.save(file, "Gemma 3 decoder converted from a Hugging Face checkpoint (ONNX Runtime fused attention)", producer);
        }
    }

    /** GroupQueryAttention's length inputs for one kind of layer: the cache's columns, {@code seqlens_k}, int32 total, padding bias. */
    private record Lengths(String total, String seqlensK, String totalI32, String padding) {
    }

    private boolean anySliding() {
        for (boolean b : c.slidingLayers()) {
            if (b) {
                return true;
            }
        }
        return false;
    }

    /**
     * The sliding layers' lengths: their cache begins after the columns the mask marks
     * {@link GraphNames#SLIDING_EVICTED_MASK_VALUE} (a prefix, as long in every row; the longest row
     * has no padding, so the largest count per row is its length); a 0/1 mask marks none.
     */
    private static Lengths slidingLengths(OnnxGraph g, String mask, String total, String batch, String sequence) throws IOException {
        String marked = g.op("Cast", new String[] {g.op("Equal", new String[] {mask,
                g.int64Scalar(GraphNames.SLIDING_EVICTED_MASK_VALUE)})}, intAttr("to", INT64));
        String perRow = g.op("ReduceSum", new String[] {marked, g.int64s(1)}, intAttr("keepdims", 0));
        String evicted = g.op("ReduceMax", new String[] {perRow}, intAttr("keepdims", 0));
        String slidingMask = g.op("Slice", new String[] {mask, g.op("Unsqueeze", new String[] {evicted, g.int64s(0)}),
                g.int64s(Long.MAX_VALUE), g.int64s(1)});
        String slidingTotal = g.op("Sub", new String[] {total, evicted});
        String totalI32 = g.op("Cast", new String[] {slidingTotal}, intAttr("to", INT32));
        String seqlensK = g.op("Cast", new String[] {g.op("Expand", new String[] {
                g.op("Sub", new String[] {slidingTotal, g.int64Scalar(1)}), batch})}, intAttr("to", INT32));
        return new Lengths(slidingTotal, seqlensK, totalI32, paddingBias(g, slidingMask, batch, sequence));
    }

    private AttributeProto[] gqaAttributes(boolean sliding) {
        List<AttributeProto> a = new ArrayList<>();
        a.add(intAttr("num_heads", c.heads()));
        a.add(intAttr("kv_num_heads", c.kvHeads()));
        a.add(floatAttr("scale", 1f)); // already in q (see the q norm); 0 would mean head_dim^-0.5
        a.add(intAttr("do_rotary", 0));
        if (sliding) {
            // GroupQueryAttention's window counts the keys before the query: sliding_window keys in all, as transformers.
            a.add(intAttr("local_window_size", c.slidingWindow() - 1));
        }
        if (c.attnLogitSoftcapping() != null) {
            a.add(floatAttr("softcap", c.attnLogitSoftcapping().floatValue()));
        }
        return a.toArray(new AttributeProto[0]);
    }

    /** [batch, 1, seq, total]: 0 where the mask attends, the lowest float at padding columns (left-padded batches). */
    private static String paddingBias(OnnxGraph g, String mask, String batch, String sequence) throws IOException {
        String attends = g.op("Cast", new String[] {g.op("Unsqueeze", new String[] {mask, g.int64s(1, 2)})}, intAttr("to", BOOL));
        String bias = g.op("Where", new String[] {attends, g.floatScalar(0f), g.floatScalar(MASKED)});
        String shape = g.op("Concat", new String[] {batch, g.int64s(1), sequence,
                g.op("Shape", new String[] {mask}, intAttr("start", 1), intAttr("end", 2))}, intAttr("axis", 0));
        return g.op("Expand", new String[] {bias, shape});
    }

    /** cos and sin [batch * seq, head_dim / 2] of this call's positions. */
    private String[] rotaryTables(OnnxGraph g, String name, String flatPositions, GemmaConfig.Rope rope) throws IOException {
        String freqs = text.ropeFrequencies(g, name, flatPositions, rope);
        return new String[] {g.op("Cos", new String[] {freqs}), g.op("Sin", new String[] {freqs})};
    }

    /** Gemma's q/k norm over head_dim of a [batch, seq, heads * head_dim] projection. */
    private String headNorm(OnnxGraph g, String x, int heads, String scale) throws IOException {
        String split = g.op("Reshape", new String[] {x, g.int64s(0, 0, heads, c.headDim())});
        String normed = simplifiedNorm(g, split, scale);
        return g.op("Reshape", new String[] {normed, g.int64s(0, 0, heads * c.headDim())});
    }

    private String simplifiedNorm(OnnxGraph g, String x, String scale) {
        return g.op("SimplifiedLayerNormalization", new String[] {x, scale},
                intAttr("axis", -1), floatAttr("epsilon", (float) c.rmsNormEps()));
    }

    /** {@code norm(x + skip)} and {@code x + skip}: the residual add fused into the next norm. */
    private String[] skipNorm(OnnxGraph g, String x, String skip, String scale) {
        String normed = g.fresh("skip_norm");
        String sum = g.fresh("residual");
        g.multiOutputOp(MICROSOFT_DOMAIN, "SkipSimplifiedLayerNormalization", new String[] {normed, "", "", sum},
                new String[] {x, skip, scale}, floatAttr("epsilon", (float) c.rmsNormEps()));
        return new String[] {normed, sum};
    }

    /**
     * The layer's attention output: GroupQueryAttention's, or, when this call's mask marks image
     * tokens, standard attention over the same present keys and values with the masks that let the
     * tokens of one image see each other.
     */
    private String imageAware(OnnxGraph g, String hasImage, String fused, String rotatedQ, String presentKey, String presentValue,
                              String total, String bias) throws IOException {
        g.beginBranch("image_attention");
        String columns = g.op("Unsqueeze", new String[] {total, g.int64s(0)});
        String keys = g.op("Slice", new String[] {presentKey, g.int64s(0), columns, g.int64s(2)});
        String values = g.op("Slice", new String[] {presentValue, g.int64s(0), columns, g.int64s(2)});
        String context = text.attention(g, text.heads(g, rotatedQ, c.heads()), text.repeatKv(g, keys), text.repeatKv(g, values), bias, 1f);
        GraphProto thenBranch = g.endBranch(context);
        g.beginBranch("causal_attention");
        String same = g.op("Identity", new String[] {fused});
        GraphProto elseBranch = g.endBranch(same);
        String out = g.fresh("attention");
        g.multiOutputOp("", "If", new String[] {out}, new String[] {hasImage},
                graphAttr("then_branch", thenBranch), graphAttr("else_branch", elseBranch));
        return out;
    }
}
