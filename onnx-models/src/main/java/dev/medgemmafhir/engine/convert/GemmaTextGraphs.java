package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.model.GraphNames;

import java.io.IOException;
import java.nio.file.Path;

import static dev.medgemmafhir.engine.convert.OnnxGraph.intAttr;
import static dev.medgemmafhir.engine.convert.OnnxGraph.intsAttr;
import static dev.medgemmafhir.engine.convert.TensorData.BOOL;
import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;
import static dev.medgemmafhir.engine.convert.TensorData.INT64;

/**
 * Gemma 3's language model as ONNX graphs of default-domain opset-17 ops ({@code --attention
 * standard}), following transformers' {@code modeling_gemma3.py} step by step:
 * <ul>
 *   <li>embedding rows times {@code sqrt(hidden)}, the scale rounded to the checkpoint's dtype as
 *       {@code Gemma3TextScaledWordEmbedding} does;</li>
 *   <li>per layer: input norm, attention, post-attention norm, residual; pre-feedforward norm,
 *       {@code down(gelu_tanh(gate(x)) * up(x))}, post-feedforward norm, residual; every norm
 *       {@code x * rsqrt(mean(x^2) + eps) * (1 + w)} in fp32;</li>
 *   <li>attention: q/k norms over head_dim before RoPE, RoPE with the layer type's base and linear
 *       scaling, grouped KV heads, scale {@code query_pre_attn_scalar^-0.5}, optional soft-capping,
 *       a causal mask, restricted on sliding layers to the key itself and the {@code sliding_window
 *       - 1} before it;</li>
 *   <li>final norm, head tied to the embedding (or {@code lm_head} when stored), optional final
 *       soft-capping.</li>
 * </ul>
 * Inputs and outputs are those of the transformers.js exports the engine loads (MEDGEMMA_ONNX.md).
 */
final class GemmaTextGraphs {

    static final String BATCH = "batch_size";
    static final String SEQUENCE = "sequence_length";
    static final String PAST_SEQUENCE = "past_sequence_length";
    static final String TOTAL_SEQUENCE = "total_sequence_length";

    /** The additive bias of a masked score: the lowest float, as transformers' eager attention uses. */
    private static final float MASKED = -Float.MAX_VALUE;

    private final GemmaConfig.Text c;
    private final Weights weights;
    /** The 4-bit block format of every linear layer and the head, or null for fp32. */
    private final Q4Format q4;
    private final float embedScale;
    private static final String TABLE = "text.embed_tokens.weight";
    private OnnxGraph tableGraph;

    GemmaTextGraphs(GemmaConfig.Text config, Weights weights, Q4Format q4) {
        this.c = config;
        this.weights = weights;
        this.q4 = q4;
        this.embedScale = Dtypes.roundTo((float) Math.sqrt(config.hidden()), weights.checkpoint().dominantDType());
    }

    /** Layout A's {@code embed_tokens}: {@code input_ids} -> {@code inputs_embeds}; the table stays fp32 in every variant. */
    void writeEmbedTokens(Path file, Path externalData, String producer) throws IOException {
        try (OnnxGraph g = new OnnxGraph("gemma3_embed_tokens", externalData)) {
            String ids = g.input("input_ids", INT64, BATCH, SEQUENCE);
            g.opNamed("Identity", "inputs_embeds", new String[] {scaledEmbedding(g, ids)});
            g.output("inputs_embeds", FLOAT, BATCH, SEQUENCE, c.hidden());
            g.save(file, "Gemma 3 token embedding converted from a Hugging Face checkpoint", producer);
        }
    }

    /**
     * The decoder: {@code inputs_embeds} (layout A's {@code decoder_model_merged}) or
     * {@code input_ids} (layout B's {@code model}).
     */
    void writeDecoder(Path file, Path externalData, boolean embedsInput, String producer) throws IOException {
        try (OnnxGraph g = new OnnxGraph("gemma3_decoder", externalData)) {
            String x = embedsInput
                    ? g.input("inputs_embeds", FLOAT, BATCH, SEQUENCE, c.hidden())
                    : scaledEmbedding(g, g.input("input_ids", INT64, BATCH, SEQUENCE));
            String attentionMask = g.input("attention_mask", INT64, BATCH, TOTAL_SEQUENCE);
            String positionIds = g.input("position_ids", INT64, BATCH, SEQUENCE);
            String[] pastKeys = new String[c.layers()];
            String[] pastValues = new String[c.layers()];
            for (int i = 0; i < c.layers(); i++) {
                pastKeys[i] = g.input("past_key_values." + i + ".key", FLOAT, BATCH, c.kvHeads(), PAST_SEQUENCE, c.headDim());
                pastValues[i] = g.input("past_key_values." + i + ".value", FLOAT, BATCH, c.kvHeads(), PAST_SEQUENCE, c.headDim());
            }

            String keep = g.input("num_logits_to_keep", INT64);
            String[] globalRope = rope(g, "rope.global.inv_freq", positionIds, c.globalRope());
            String[] localRope = rope(g, "rope.sliding.inv_freq", positionIds, c.localRope());
            String sequenceLength = g.op("Shape", new String[] {x}, intAttr("start", 1), intAttr("end", 2));
            String globalMask = null;
            String slidingMask = null;

            for (int layer = 0; layer < c.layers(); layer++) {
                String p = "text.layers." + layer + ".";
                boolean sliding = c.slidingLayers()[layer];
                String residual = x;
                String h = rmsNorm(g, x, p + "input_layernorm.weight", c.hidden());
                String q = heads(g, linear(g, h, p + "self_attn.q_proj.weight", c.heads() * c.headDim(), c.hidden()), c.heads());
                String k = heads(g, linear(g, h, p + "self_attn.k_proj.weight", c.kvHeads() * c.headDim(), c.hidden()), c.kvHeads());
                String v = heads(g, linear(g, h, p + "self_attn.v_proj.weight", c.kvHeads() * c.headDim(), c.hidden()), c.kvHeads());
                q = rmsNorm(g, q, p + "self_attn.q_norm.weight", c.headDim());
                k = rmsNorm(g, k, p + "self_attn.k_norm.weight", c.headDim());
                String[] rope = sliding ? localRope : globalRope;
                q = rotate(g, q, rope[0], rope[1]);
                k = rotate(g, k, rope[0], rope[1]);

                String keys = g.opNamed("Concat", "present." + layer + ".key", new String[] {pastKeys[layer], k}, intAttr("axis", 2));
                String values = g.opNamed("Concat", "present." + layer + ".value", new String[] {pastValues[layer], v}, intAttr("axis", 2));
                g.output(keys, FLOAT, BATCH, c.kvHeads(), TOTAL_SEQUENCE, c.headDim());
                g.output(values, FLOAT, BATCH, c.kvHeads(), TOTAL_SEQUENCE, c.headDim());
                if (globalMask == null) {
                    String[] masks = masks(g, totalLength(g, attentionMask), sequenceLength, attentionMask, embedsInput);
                    globalMask = masks[0];
                    slidingMask = masks[1];
                }
                String attended = attention(g, q, repeatKv(g, keys), repeatKv(g, values), sliding ? slidingMask : globalMask, attentionScale());
                String o = linear(g, attended, p + "self_attn.o_proj.weight", c.hidden(), c.heads() * c.headDim());
                x = g.op("Add", new String[] {residual, rmsNorm(g, o, p + "post_attention_layernorm.weight", c.hidden())});

                residual = x;
                String h2 = rmsNorm(g, x, p + "pre_feedforward_layernorm.weight", c.hidden());
                String gate = linear(g, h2, p + "mlp.gate_proj.weight", c.intermediate(), c.hidden());
                String up = linear(g, h2, p + "mlp.up_proj.weight", c.intermediate(), c.hidden());
                String down = linear(g, g.op("Mul", new String[] {geluTanh(g, gate), up}), p + "mlp.down_proj.weight",
                        c.hidden(), c.intermediate());
                x = g.op("Add", new String[] {residual, rmsNorm(g, down, p + "post_feedforward_layernorm.weight", c.hidden())});
            }
            x = rmsNorm(g, x, "text.norm.weight", c.hidden());
            // Slice(x, -k, end, axis 1): k = 0 keeps every position, k = 1 only the last (no [S, vocab] for a long prompt).
            String start = g.op("Neg", new String[] {g.op("Unsqueeze", new String[] {keep, g.int64s(0)})});
            x = g.op("Slice", new String[] {x, start, g.int64s(Long.MAX_VALUE), g.int64s(1)});
            String logits = head(g, x);
            if (c.finalLogitSoftcapping() != null) {
                logits = softcap(g, logits, c.finalLogitSoftcapping());
            }
            g.opNamed("Identity", "logits", new String[] {logits});
            g.output("logits", FLOAT, BATCH, "num_logits", c.vocab());
            g.save(file, "Gemma 3 decoder converted from a Hugging Face checkpoint (standard ONNX attention)", producer);
        }
    }

    /** The table once per graph: layout B gathers from it and, in fp32, multiplies by it for the head. */
    String embeddingTable(OnnxGraph g) throws IOException {
        if (g == tableGraph) {
            return TABLE;
        }
        tableGraph = g;
        return g.initializer(TABLE,
                weights.fp32(weights.checkpoint().tensor("text.embed_tokens.weight", c.vocab(), c.hidden())));
    }

    String scaledEmbedding(OnnxGraph g, String ids) throws IOException {
        String rows = g.op("Gather", new String[] {embeddingTable(g), ids});
        return g.op("Mul", new String[] {rows, g.floatScalar(embedScale)});
    }

    /** Logits: the tied embedding (or a stored lm_head) as {@code x @ E^T}; Gemm with transB keeps one copy of E. */
    String head(OnnxGraph g, String x) throws IOException {
        String name = weights.checkpoint().has("lm_head.weight") && !c.tieWordEmbeddings() ? "lm_head.weight" : "text.embed_tokens.weight";
        if (q4 != null) {
            return linear(g, x, name, c.vocab(), c.hidden());
        }
        String table = name.equals("lm_head.weight")
                ? g.initializer(name, weights.fp32(weights.checkpoint().tensor(name, c.vocab(), c.hidden())))
                : embeddingTable(g);
        String rows = g.op("Reshape", new String[] {x, g.int64s(-1, c.hidden())});
        String flat = g.op("Gemm", new String[] {rows, table}, intAttr("transB", 1));
        String outShape = g.op("Concat", new String[] {
                g.op("Shape", new String[] {x}, intAttr("start", 0), intAttr("end", 2)), g.int64s(c.vocab())}, intAttr("axis", 0));
        return g.op("Reshape", new String[] {flat, outShape});
    }

    /** {@code x @ W^T} for a torch weight {@code [out, in]}. */
    String linear(OnnxGraph g, String x, String name, int out, int in) throws IOException {
        return Projections.linear(g, weights, x, name, weights.checkpoint().tensor(name, out, in), q4);
    }

    /** Gemma's RMSNorm: {@code x * (1 / sqrt(mean(x^2) + eps)) * (1 + w)} over the last axis. */
    String rmsNorm(OnnxGraph g, String x, String name, int width) throws IOException {
        return Norms.gemmaRms(g, x, normScale(g, name, width), (float) c.rmsNormEps());
    }

    /** A norm's scale with Gemma's {@code 1 + w} folded in. */
    String normScale(OnnxGraph g, String name, int width) throws IOException {
        return g.initializer(name + "_plus_one", weights.plusOne(weights.checkpoint().tensor(name, width)));
    }

    /** {@link #normScale} times {@code factor} (a constant folded into the norm that precedes a linear map). */
    String normScale(OnnxGraph g, String name, int width, float factor) throws IOException {
        return g.initializer(name + "_plus_one_scaled", weights.plusOneTimes(weights.checkpoint().tensor(name, width), factor));
    }

    /** Gemma's attention scale, {@code query_pre_attn_scalar^-0.5}. */
    float attentionScale() {
        return (float) Math.pow(c.queryPreAttnScalar(), -0.5);
    }

    GemmaConfig.Text config() {
        return c;
    }

    /** [batch, seq, heads*head_dim] -> [batch, heads, seq, head_dim]. */
    String heads(OnnxGraph g, String x, int heads) throws IOException {
        String split = g.op("Reshape", new String[] {x, g.int64s(0, 0, heads, c.headDim())});
        return g.op("Transpose", new String[] {split}, intsAttr("perm", 0, 2, 1, 3));
    }

    /**
     * cos and sin [batch, 1, seq, head_dim] of the rotary angles: {@code position * inv_freq} in
     * fp32, {@code inv_freq = 1 / (theta^(2i/d)) / factor}, both halves repeated.
     */
    private String[] rope(OnnxGraph g, String name, String positionIds, GemmaConfig.Rope rope) throws IOException {
        String freqs = ropeFrequencies(g, name, positionIds, rope);
        String angles = g.op("Concat", new String[] {freqs, freqs}, intAttr("axis", -1));
        String headsAxis = g.int64s(1);
        String cos = g.op("Unsqueeze", new String[] {g.op("Cos", new String[] {angles}), headsAxis});
        String sin = g.op("Unsqueeze", new String[] {g.op("Sin", new String[] {angles}), headsAxis});
        return new String[] {cos, sin};
    }

    /** {@code position * inv_freq} [batch, seq, head_dim / 2] in fp32, {@code inv_freq = 1 / (theta^(2i/d)) / factor}. */
    String ropeFrequencies(OnnxGraph g, String name, String positionIds, GemmaConfig.Rope rope) throws IOException {
        int half = c.headDim() / 2;
        float[] invFreq = new float[half];
        for (int i = 0; i < half; i++) {
            // transformers: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), then / factor (linear scaling).
            float exponent = (float) (2 * i) / c.headDim();
            invFreq[i] = (float) (1.0 / Math.pow(rope.theta(), exponent));
            invFreq[i] = (float) (invFreq[i] / rope.linearFactor());
        }
        String positions = g.op("Unsqueeze", new String[] {g.op("Cast", new String[] {positionIds}, intAttr("to", FLOAT)), g.int64s(-1)});
        return g.op("Mul", new String[] {positions, g.initializer(name, ConstantTensor.floats(new long[] {half}, invFreq))});
    }

    /** x * cos + rotate_half(x) * sin, rotate_half(x) = concat(-x2, x1). */
    private String rotate(OnnxGraph g, String x, String cos, String sin) throws IOException {
        int d = c.headDim();
        String axis = g.int64s(3);
        String first = g.op("Slice", new String[] {x, g.int64s(0), g.int64s(d / 2), axis});
        String second = g.op("Slice", new String[] {x, g.int64s(d / 2), g.int64s(d), axis});
        String rotated = g.op("Concat", new String[] {g.op("Neg", new String[] {second}), first}, intAttr("axis", 3));
        return g.op("Add", new String[] {g.op("Mul", new String[] {x, cos}), g.op("Mul", new String[] {rotated, sin})});
    }

    /** The mask's length (past plus this call's tokens) as an int64 scalar. */
    static String totalLength(OnnxGraph g, String attentionMask) throws IOException {
        return g.op("Squeeze", new String[] {g.op("Shape", new String[] {attentionMask}, intAttr("start", 1), intAttr("end", 2)),
                g.int64s(0)});
    }

    /**
     * Additive biases [batch, 1, seq, total] for global and sliding layers. Query i sits at cache
     * index {@code total - seq + i}; it sees key j when j <= that index and the mask holds 1 there;
     * on sliding layers also only when j > index - sliding_window.
     */
    String[] masks(OnnxGraph g, String total, String sequenceLength, String attentionMask, boolean images)
            throws IOException {
        String scalarAxis = g.int64s(0);
        String seq = g.op("Squeeze", new String[] {sequenceLength, scalarAxis});
        String one = g.int64Scalar(1);
        String keyPositions = g.op("Unsqueeze", new String[] {g.op("Range", new String[] {g.int64Scalar(0), total, one}), g.int64s(0)});
        String queryPositions = g.op("Unsqueeze", new String[] {
                g.op("Range", new String[] {g.op("Sub", new String[] {total, seq}), total, one}), g.int64s(1)});
        String causal = g.op("LessOrEqual", new String[] {keyPositions, queryPositions});
        String padding = g.op("Cast", new String[] {g.op("Unsqueeze", new String[] {attentionMask, g.int64s(1, 2)})}, intAttr("to", BOOL));
        String windowStart = g.op("Sub", new String[] {queryPositions, g.int64Scalar(c.slidingWindow())});
        String inWindow = g.op("Greater", new String[] {keyPositions, windowStart});
        String slidingCausal = g.op("And", new String[] {causal, inWindow});
        if (images) {
            String sameImage = sameImage(g, total, seq, attentionMask);
            causal = g.op("Or", new String[] {causal, sameImage});
            slidingCausal = g.op("Or", new String[] {slidingCausal, sameImage});
        }
        String global = g.op("And", new String[] {causal, padding});
        String sliding = g.op("And", new String[] {slidingCausal, padding});
        String zero = g.floatScalar(0f);
        String masked = g.floatScalar(MASKED);
        return new String[] {
                g.op("Where", new String[] {global, zero, masked}),
                g.op("Where", new String[] {sliding, zero, masked})};
    }

    /**
     * Gemma 3's bidirectional attention among the tokens of one image (transformers'
     * {@code token_type_ids_mask_function}): [batch, 1, seq, total], true where query and key are
     * image tokens of the same run. The image tokens of this call are those whose attention_mask
     * column holds {@link GraphNames#IMAGE_TOKEN_MASK_VALUE} (the engine marks them at prefill; a
     * 0/1 mask marks none). Runs are numbered by a cumulative sum of run starts; keys in the cache
     * (earlier calls) belong to no run, as transformers applies this only within one prefill.
     */
    private String sameImage(OnnxGraph g, String total, String seq, String attentionMask) throws IOException {
        String pastLength = g.op("Unsqueeze", new String[] {g.op("Sub", new String[] {total, seq}), g.int64s(0)});
        String current = g.op("Slice", new String[] {attentionMask, pastLength, g.int64s(Long.MAX_VALUE), g.int64s(1)});
        String isImage = g.op("Cast", new String[] {g.op("Equal", new String[] {current, g.int64Scalar(GraphNames.IMAGE_TOKEN_MASK_VALUE)})},
                intAttr("to", INT64));
        String zeroColumn = g.op("Slice", new String[] {g.op("Mul", new String[] {isImage, g.int64Scalar(0)}),
                g.int64s(0), g.int64s(1), g.int64s(1)});
        String previous = g.op("Slice", new String[] {g.op("Concat", new String[] {zeroColumn, isImage}, intAttr("axis", 1)),
                g.int64s(0), g.op("Unsqueeze", new String[] {seq, g.int64s(0)}), g.int64s(1)});
        String starts = g.op("Mul", new String[] {isImage, g.op("Sub", new String[] {g.int64Scalar(1), previous})});
        String runs = g.op("Mul", new String[] {g.op("CumSum", new String[] {starts, g.int64Scalar(1)}), isImage});
        String pastRuns = g.op("Slice", new String[] {g.op("Mul", new String[] {attentionMask, g.int64Scalar(0)}),
                g.int64s(0), pastLength, g.int64s(1)});
        String keyRuns = g.op("Concat", new String[] {pastRuns, runs}, intAttr("axis", 1));
        String queryRun = g.op("Unsqueeze", new String[] {runs, g.int64s(1, 3)});
        String keyRun = g.op("Unsqueeze", new String[] {keyRuns, g.int64s(1, 2)});
        return g.op("And", new String[] {
                g.op("Greater", new String[] {queryRun, g.int64Scalar(0)}),
                g.op("Equal", new String[] {queryRun, keyRun})});
    }

    /** Grouped KV heads: [b, kv, t, d] -> [b, heads, t, d], each kv head serving heads/kv query heads in a row. */
    String repeatKv(OnnxGraph g, String kv) throws IOException {
        int groups = c.heads() / c.kvHeads();
        if (groups == 1) {
            return kv;
        }
        String expanded = g.op("Expand", new String[] {g.op("Unsqueeze", new String[] {kv, g.int64s(2)}), g.int64s(1, 1, groups, 1, 1)});
        return g.op("Reshape", new String[] {expanded, g.int64s(0, c.heads(), -1, c.headDim())});
    }

    /** softmax(q k^T * scale [soft-capped] + bias) v, heads merged back. */
    String attention(OnnxGraph g, String q, String keys, String values, String bias, float scale) throws IOException {
        String scores = g.op("MatMul", new String[] {q, g.op("Transpose", new String[] {keys}, intsAttr("perm", 0, 1, 3, 2))});
        String scaled = scale == 1f ? scores : g.op("Mul", new String[] {scores, g.floatScalar(scale)});
        if (c.attnLogitSoftcapping() != null) {
            scaled = softcap(g, scaled, c.attnLogitSoftcapping());
        }
        String probabilities = g.op("Softmax", new String[] {g.op("Add", new String[] {scaled, bias})}, intAttr("axis", -1));
        String context = g.op("Transpose", new String[] {g.op("MatMul", new String[] {probabilities, values})}, intsAttr("perm", 0, 2, 1, 3));
        return g.op("Reshape", new String[] {context, g.int64s(0, 0, c.heads() * c.headDim())});
    }

    /** tanh(x / cap) * cap. */
    static String softcap(OnnxGraph g, String x, double cap) throws IOException {
        String t = g.op("Tanh", new String[] {g.op("Div", new String[] {x, g.floatScalar((float) cap)})});
        return g.op("Mul", new String[] {t, g.floatScalar((float) cap)});
    }

    /** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
    static String geluTanh(OnnxGraph g, String x) throws IOException {
        String cube = g.op("Mul", new String[] {g.op("Mul", new String[] {x, x}), x});
        String inner = g.op("Add", new String[] {x, g.op("Mul", new String[] {cube, g.floatScalar(0.044715f)})});
        String t = g.op("Tanh", new String[] {g.op("Mul", new String[] {inner, g.floatScalar((float) Math.sqrt(2 / Math.PI))})});
        String onePlus = g.op("Add", new String[] {t, g.floatScalar(1f)});
        return g.op("Mul", new String[] {g.op("Mul", new String[] {x, g.floatScalar(0.5f)}), onePlus});
    }
}
