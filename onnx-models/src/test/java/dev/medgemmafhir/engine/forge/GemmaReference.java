package dev.medgemmafhir.engine.forge;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * An independent fp32 forward pass of Gemma 3 written from transformers' {@code modeling_gemma3.py}
 * and {@code modeling_siglip.py}, in plain Java loops over a forged checkpoint's weights: no ONNX and
 * nothing shared with the converter. Each call recomputes the whole sequence (no cache), with
 * positions from 0 as transformers numbers them, so the cache hand-off of the converted graph is
 * checked against a computation that has none.
 *
 * <p>Text config values are those {@link CheckpointForge} writes: sliding layers where
 * {@code (i + 1) % 6 != 0}, global RoPE base 1e6 with linear factor 8, local base 1e4, eps 1e-6.
 */
public final class GemmaReference {

    private static final double EPS = 1e-6;
    private static final double GLOBAL_THETA = 1_000_000;
    private static final double GLOBAL_FACTOR = 8;
    private static final double LOCAL_THETA = 10_000;

    private final CheckpointForge.Shape s;
    private final Map<String, float[]> w;
    private final boolean bidirectionalImages;

    /**
     * @param bidirectionalImages true as the original: tokens of one image see each other at prefill;
     *                            false for a plainly causal model
     */
    public GemmaReference(CheckpointForge.Forged checkpoint, boolean bidirectionalImages) {
        this.s = checkpoint.shape();
        this.w = checkpoint.weights();
        this.bidirectionalImages = bidirectionalImages;
    }

    private float[] weight(String name) {
        float[] v = w.get(name);
        if (v == null) {
            throw new IllegalArgumentException("no weight " + name);
        }
        return v;
    }

    /** Logits [position][vocab] of every position of {@code ids}; rows at {@code imageToken} take {@code imageFeatures} in order. */
    public double[][] logits(int[] ids, int imageToken, double[][] imageFeatures) {
        int n = ids.length;
        int h = s.hidden();
        float[] table = weight("language_model.model.embed_tokens.weight");
        // Gemma3TextScaledWordEmbedding: embed_scale = tensor(hidden ** 0.5).to(weight dtype = bfloat16).
        double scale = CheckpointForge.toBf16((float) Math.sqrt(h));
        double[][] x = new double[n][h];
        int[] imageGroup = new int[n];
        int feature = 0;
        int group = 0;
        boolean inImage = false;
        for (int i = 0; i < n; i++) {
            if (ids[i] == imageToken && imageFeatures != null) {
                x[i] = imageFeatures[feature++].clone();
                if (!inImage) {
                    group++;
                }
                inImage = true;
                imageGroup[i] = group;
            } else {
                inImage = false;
                for (int j = 0; j < h; j++) {
                    x[i][j] = table[ids[i] * h + j] * scale;
                }
            }
        }
        for (int layer = 0; layer < s.layers(); layer++) {
            String p = "language_model.model.layers." + layer + ".";
            boolean sliding = (layer + 1) % 6 != 0;
            double[][] residual = x;
            double[][] a = attention(rms(x, weight(p + "input_layernorm.weight")), p, sliding, imageGroup);
            a = rms(a, weight(p + "post_attention_layernorm.weight"));
            x = add(residual, a);
            residual = x;
            double[][] m = rms(x, weight(p + "pre_feedforward_layernorm.weight"));
            double[][] gate = linear(m, weight(p + "mlp.gate_proj.weight"), s.intermediate(), h, null);
            double[][] up = linear(m, weight(p + "mlp.up_proj.weight"), s.intermediate(), h, null);
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < s.intermediate(); j++) {
                    gate[i][j] = geluTanh(gate[i][j]) * up[i][j];
                }
            }
            double[][] down = rms(linear(gate, weight(p + "mlp.down_proj.weight"), h, s.intermediate(), null),
                    weight(p + "post_feedforward_layernorm.weight"));
            x = add(residual, down);
        }
        x = rms(x, weight("language_model.model.norm.weight"));
        // Tied head: logits = x @ embed_tokens^T.
        return linear(x, table, s.vocab(), h, null);
    }

    /** Greedy continuation: recompute everything each step and take the argmax of the last row. */
    public List<Integer> greedy(int[] prompt, int newTokens, int imageToken, double[][] imageFeatures) {
        List<Integer> out = new ArrayList<>();
        int[] ids = prompt.clone();
        for (int k = 0; k < newTokens; k++) {
            double[][] logits = logits(ids, imageToken, imageFeatures);
            int next = argmax(logits[ids.length - 1]);
            out.add(next);
            int[] longer = java.util.Arrays.copyOf(ids, ids.length + 1);
            longer[ids.length] = next;
            ids = longer;
        }
        return out;
    }

    private double[][] attention(double[][] x, String p, boolean sliding, int[] imageGroup) {
        int n = x.length;
        int hd = s.headDim();
        double[][] q = linear(x, weight(p + "self_attn.q_proj.weight"), s.heads() * hd, s.hidden(), null);
        double[][] k = linear(x, weight(p + "self_attn.k_proj.weight"), s.kvHeads() * hd, s.hidden(), null);
        double[][] v = linear(x, weight(p + "self_attn.v_proj.weight"), s.kvHeads() * hd, s.hidden(), null);
        float[] qNorm = weight(p + "self_attn.q_norm.weight");
        float[] kNorm = weight(p + "self_attn.k_norm.weight");
        double theta = sliding ? LOCAL_THETA : GLOBAL_THETA;
        double factor = sliding ? 1 : GLOBAL_FACTOR;
        for (int i = 0; i < n; i++) {
            for (int head = 0; head < s.heads(); head++) {
                rmsInPlace(q[i], head * hd, hd, qNorm);
                rope(q[i], head * hd, i, theta, factor);
            }
            for (int head = 0; head < s.kvHeads(); head++) {
                rmsInPlace(k[i], head * hd, hd, kNorm);
                rope(k[i], head * hd, i, theta, factor);
            }
        }
        double scaling = Math.pow(s.queryPreAttnScalar(), -0.5);
        int groups = s.heads() / s.kvHeads();
        double[][] out = new double[n][s.heads() * hd];
        for (int head = 0; head < s.heads(); head++) {
            int kvHead = head / groups;
            for (int i = 0; i < n; i++) {
                double[] scores = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    boolean allowed = j <= i && (!sliding || j > i - s.slidingWindow());
                    if (bidirectionalImages && imageGroup[i] != 0 && imageGroup[i] == imageGroup[j]) {
                        allowed = true;
                    }
                    if (!allowed) {
                        scores[j] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    double dot = 0;
                    for (int d = 0; d < hd; d++) {
                        dot += q[i][head * hd + d] * k[j][kvHead * hd + d];
                    }
                    scores[j] = dot * scaling;
                    max = Math.max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j < n; j++) {
                    scores[j] = scores[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(scores[j] - max);
                    sum += scores[j];
                }
                for (int j = 0; j < n; j++) {
                    double pj = scores[j] / sum;
                    for (int d = 0; d < hd; d++) {
                        out[i][head * hd + d] += pj * v[j][kvHead * hd + d];
                    }
                }
            }
        }
        return linear(out, weight(p + "self_attn.o_proj.weight"), s.hidden(), s.heads() * hd, null);
    }

    /** apply_rotary_pos_emb on one head: x * cos + rotate_half(x) * sin, inv_freq = 1 / theta^(2i/d) / factor. */
    private void rope(double[] v, int offset, int position, double theta, double factor) {
        int hd = s.headDim();
        int half = hd / 2;
        double[] rotated = new double[hd];
        for (int i = 0; i < hd; i++) {
            int f = i % half;
            double invFreq = 1.0 / Math.pow(theta, (2.0 * f) / hd) / factor;
            double angle = position * invFreq;
            double partner = i < half ? -v[offset + i + half] : v[offset + i - half];
            rotated[i] = v[offset + i] * Math.cos(angle) + partner * Math.sin(angle);
        }
        System.arraycopy(rotated, 0, v, offset, hd);
    }

    /** Gemma3RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w). */
    private static double[][] rms(double[][] x, float[] weight) {
        double[][] out = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i].clone();
            rmsInPlace(out[i], 0, out[i].length, weight);
        }
        return out;
    }

    private static void rmsInPlace(double[] v, int offset, int width, float[] weight) {
        double sum = 0;
        for (int i = 0; i < width; i++) {
            sum += v[offset + i] * v[offset + i];
        }
        double inv = 1 / Math.sqrt(sum / width + EPS);
        for (int i = 0; i < width; i++) {
            v[offset + i] = v[offset + i] * inv * (1 + weight[i]);
        }
    }

    /** torch Linear: y = x W^T (+ b), W [out, in]. */
    private static double[][] linear(double[][] x, float[] weight, int out, int in, float[] bias) {
        double[][] y = new double[x.length][out];
        for (int i = 0; i < x.length; i++) {
            for (int o = 0; o < out; o++) {
                double sum = bias == null ? 0 : bias[o];
                for (int j = 0; j < in; j++) {
                    sum += x[i][j] * weight[o * in + j];
                }
                y[i][o] = sum;
            }
        }
        return y;
    }

    private static double[][] add(double[][] a, double[][] b) {
        double[][] out = new double[a.length][a[0].length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[0].length; j++) {
                out[i][j] = a[i][j] + b[i][j];
            }
        }
        return out;
    }

    /** gelu_pytorch_tanh. */
    private static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    public static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * SiglipVisionModel + Gemma3MultiModalProjector on one image given as normalised pixels
     * {@code [3][H][W]}: returns {@code mm_tokens_per_image} rows of the text width.
     */
    public double[][] imageFeatures(double[][][] pixels) {
        int c = s.visionHidden();
        int p = s.patchSize();
        int side = s.imageSize() / p;
        int patches = side * side;
        String v = "vision_tower.vision_model.";
        float[] conv = weight(v + "embeddings.patch_embedding.weight");
        float[] convBias = weight(v + "embeddings.patch_embedding.bias");
        float[] positions = weight(v + "embeddings.position_embedding.weight");
        double[][] x = new double[patches][c];
        for (int py = 0; py < side; py++) {
            for (int px = 0; px < side; px++) {
                int patch = py * side + px;
                for (int o = 0; o < c; o++) {
                    double sum = convBias[o];
                    for (int ch = 0; ch < 3; ch++) {
                        for (int ky = 0; ky < p; ky++) {
                            for (int kx = 0; kx < p; kx++) {
                                sum += conv[((o * 3 + ch) * p + ky) * p + kx] * pixels[ch][py * p + ky][px * p + kx];
                            }
                        }
                    }
                    x[patch][o] = sum + positions[patch * c + o];
                }
            }
        }
        int heads = s.visionHeads();
        int hd = c / heads;
        for (int layer = 0; layer < s.visionLayers(); layer++) {
            String l = v + "encoder.layers." + layer + ".";
            double[][] h = layerNorm(x, weight(l + "layer_norm1.weight"), weight(l + "layer_norm1.bias"));
            double[][] q = linear(h, weight(l + "self_attn.q_proj.weight"), c, c, weight(l + "self_attn.q_proj.bias"));
            double[][] k = linear(h, weight(l + "self_attn.k_proj.weight"), c, c, weight(l + "self_attn.k_proj.bias"));
            double[][] val = linear(h, weight(l + "self_attn.v_proj.weight"), c, c, weight(l + "self_attn.v_proj.bias"));
            double[][] ctx = new double[patches][c];
            for (int head = 0; head < heads; head++) {
                for (int i = 0; i < patches; i++) {
                    double[] scores = new double[patches];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < patches; j++) {
                        double dot = 0;
                        for (int d = 0; d < hd; d++) {
                            dot += q[i][head * hd + d] * k[j][head * hd + d];
                        }
                        scores[j] = dot * Math.pow(hd, -0.5);
                        max = Math.max(max, scores[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < patches; j++) {
                        scores[j] = Math.exp(scores[j] - max);
                        sum += scores[j];
                    }
                    for (int j = 0; j < patches; j++) {
                        for (int d = 0; d < hd; d++) {
                            ctx[i][head * hd + d] += scores[j] / sum * val[j][head * hd + d];
                        }
                    }
                }
            }
            x = add(x, linear(ctx, weight(l + "self_attn.out_proj.weight"), c, c, weight(l + "self_attn.out_proj.bias")));
            double[][] h2 = layerNorm(x, weight(l + "layer_norm2.weight"), weight(l + "layer_norm2.bias"));
            double[][] fc1 = linear(h2, weight(l + "mlp.fc1.weight"), s.visionIntermediate(), c, weight(l + "mlp.fc1.bias"));
            for (double[] row : fc1) {
                for (int j = 0; j < row.length; j++) {
                    row[j] = geluTanh(row[j]);
                }
            }
            x = add(x, linear(fc1, weight(l + "mlp.fc2.weight"), c, s.visionIntermediate(), weight(l + "mlp.fc2.bias")));
        }
        x = layerNorm(x, weight(v + "post_layernorm.weight"), weight(v + "post_layernorm.bias"));
        int tokensSide = (int) Math.round(Math.sqrt(s.mmTokensPerImage()));
        int kernel = side / tokensSide;
        double[][] pooled = new double[s.mmTokensPerImage()][c];
        for (int ty = 0; ty < tokensSide; ty++) {
            for (int tx = 0; tx < tokensSide; tx++) {
                for (int ky = 0; ky < kernel; ky++) {
                    for (int kx = 0; kx < kernel; kx++) {
                        double[] from = x[(ty * kernel + ky) * side + tx * kernel + kx];
                        for (int o = 0; o < c; o++) {
                            pooled[ty * tokensSide + tx][o] += from[o] / (kernel * kernel);
                        }
                    }
                }
            }
        }
        pooled = rms(pooled, weight("multi_modal_projector.mm_soft_emb_norm.weight"));
        float[] projection = weight("multi_modal_projector.mm_input_projection_weight");
        double[][] out = new double[pooled.length][s.hidden()];
        for (int t = 0; t < pooled.length; t++) {
            for (int o = 0; o < s.hidden(); o++) {
                double sum = 0;
                for (int j = 0; j < c; j++) {
                    sum += pooled[t][j] * projection[j * s.hidden() + o];
                }
                out[t][o] = sum;
            }
        }
        return out;
    }

    private static double[][] layerNorm(double[][] x, float[] weight, float[] bias) {
        double[][] out = new double[x.length][x[0].length];
        for (int i = 0; i < x.length; i++) {
            double mean = 0;
            for (double e : x[i]) {
                mean += e;
            }
            mean /= x[i].length;
            double var = 0;
            for (double e : x[i]) {
                var += (e - mean) * (e - mean);
            }
            var /= x[i].length;
            double inv = 1 / Math.sqrt(var + EPS);
            for (int j = 0; j < x[i].length; j++) {
                out[i][j] = (x[i][j] - mean) * inv * weight[j] + bias[j];
            }
        }
        return out;
    }
}
