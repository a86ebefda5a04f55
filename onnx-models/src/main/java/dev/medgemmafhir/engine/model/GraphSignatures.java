package dev.medgemmafhir.engine.model;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads what a graph takes and returns from {@link OrtSession#getInputInfo()} /
 * {@link OrtSession#getOutputInfo()} and checks it against the configs, so that a mismatched
 * directory fails at load with the file and the problem rather than mid-generation.
 */
public final class GraphSignatures {

    private GraphSignatures() {
    }

    /**
     * The decoder's inputs and outputs.
     *
     * @param takesEmbeds whether the token input is {@code inputs_embeds} (else {@code input_ids})
     * @param tokenInput name of that input
     * @param embedsType element type of {@code inputs_embeds} (null when the graph takes ids)
     * @param attentionMask name of the mask input
     * @param positionIds name of the positions input, null when the graph has none
     * @param numLogitsToKeep name of the logits-to-keep input, null when the graph has none
     * @param lastLogitsOnly whether a run returns the last position's logits only: with {@code numLogitsToKeep} = 1, or
     *                       always when the graph's logits are [batch, 1, vocab] (the converter's fused graph)
     * @param useCacheBranch name of the {@code use_cache_branch} input, null when the graph has none
     * @param imageMaskValue attention_mask value marking image tokens at prefill, 0 when the graph has no such rule
     * @param sharedKvBuffer whether a decode step may take one buffer as past and pinned present (ModelConfig)
     * @param slidingCache the sliding-window layers whose cache a decode step may shorten (ModelConfig), null when none
     * @param pastKeys past key input names by layer (likewise values, present keys, present values)
     * @param kvType element type of the cache (FLOAT or FLOAT16)
     * @param kvHeads cache heads
     * @param headDim cache head size
     * @param logits name of the logits output
     * @param logitsType FLOAT or FLOAT16
     * @param vocab logits columns, -1 when the graph leaves it symbolic
     */
    public record Decoder(
            boolean takesEmbeds, String tokenInput, OnnxJavaType embedsType, String attentionMask, String positionIds,
            String numLogitsToKeep, boolean lastLogitsOnly, String useCacheBranch, long imageMaskValue, boolean sharedKvBuffer,
            SlidingWindowCache slidingCache, String[] pastKeys, String[] pastValues, String[] presentKeys,
            String[] presentValues, OnnxJavaType kvType, long kvHeads, long headDim, String logits, OnnxJavaType logitsType,
            long vocab) {

        public int layers() {
            return pastKeys.length;
        }
    }

    /** The token-embedding graph: {@code input_ids} -> {@code inputs_embeds}. */
    public record Embedder(String input, String output, OnnxJavaType type, long hidden) {
    }

    /** The vision encoder: {@code pixel_values} [N,3,H,W] -> {@code image_features} [N,tokens,hidden]. */
    public record Vision(String input, OnnxJavaType inputType, long height, long width, String output, OnnxJavaType outputType,
                         long tokensPerImage, long hidden) {
    }

    public static Decoder decoder(Path dir, Path file, OrtSession session, GraphNames names, ModelConfig config) {
        Map<String, TensorInfo> in = tensors(dir, file, session, true);
        Map<String, TensorInfo> out = tensors(dir, file, session, false);
        Set<String> fed = new HashSet<>();

        boolean embeds = in.containsKey(names.inputsEmbeds());
        String token = embeds ? names.inputsEmbeds() : names.inputIds();
        if (!in.containsKey(token)) {
            throw ModelLoadException.at(dir, file, "graph has neither '" + names.inputIds() + "' nor '" + names.inputsEmbeds()
                    + "' as input; inputs are " + in.keySet());
        }
        if (embeds && in.containsKey(names.inputIds())) {
            throw ModelLoadException.at(dir, file, "graph takes both '" + names.inputIds() + "' and '" + names.inputsEmbeds() + "'");
        }
        TensorInfo tokenInfo = in.get(token);
        if (!embeds) {
            requireType(dir, file, token, tokenInfo, OnnxJavaType.INT64);
        } else {
            requireFloat(dir, file, token, tokenInfo);
            if (config.hiddenSize() != null && lastDim(tokenInfo) > 0 && lastDim(tokenInfo) != config.hiddenSize()) {
                throw ModelLoadException.at(dir, file, "'" + token + "' has hidden size " + lastDim(tokenInfo)
                        + " but config says hidden_size " + config.hiddenSize());
            }
        }
        fed.add(token);
        require(dir, file, in, names.attentionMask(), OnnxJavaType.INT64);
        fed.add(names.attentionMask());
        String positions = in.containsKey(names.positionIds()) ? names.positionIds() : null;
        if (positions != null) {
            requireType(dir, file, positions, in.get(positions), OnnxJavaType.INT64);
            fed.add(positions);
        }
        String keep = null;
        for (String k : new String[] {"num_logits_to_keep", "logits_to_keep"}) {
            if (in.containsKey(k)) {
                requireType(dir, file, k, in.get(k), OnnxJavaType.INT64);
                keep = k;
                fed.add(k);
            }
        }
        String cacheBranch = in.containsKey("use_cache_branch") ? "use_cache_branch" : null;
        if (cacheBranch != null) {
            fed.add(cacheBranch);
        }

        int layers = 0;
        while (in.containsKey(String.format(names.pastKey(), layers))) {
            layers++;
        }
        if (layers == 0) {
            throw ModelLoadException.at(dir, file, "graph has no KV-cache inputs named like '" + names.pastKey() + "'; inputs are " + in.keySet());
        }
        if (config.numLayers() != null && config.numLayers() != layers) {
            throw ModelLoadException.at(dir, file, "graph has a KV cache for " + layers + " layers but the config says num_hidden_layers "
                    + config.numLayers());
        }
        String[] pk = new String[layers];
        String[] pv = new String[layers];
        String[] ok = new String[layers];
        String[] ov = new String[layers];
        OnnxJavaType kvType = null;
        long kvHeads = -1;
        long headDim = -1;
        for (int i = 0; i < layers; i++) {
            pk[i] = String.format(names.pastKey(), i);
            pv[i] = String.format(names.pastValue(), i);
            ok[i] = String.format(names.presentKey(), i);
            ov[i] = String.format(names.presentValue(), i);
            for (String name : new String[] {pk[i], pv[i]}) {
                TensorInfo t = in.get(name);
                if (t == null) {
                    throw ModelLoadException.at(dir, file, "graph lacks cache input '" + name + "'");
                }
                requireFloat(dir, file, name, t);
                long[] s = t.getShape();
                if (s.length != 4) {
                    throw ModelLoadException.at(dir, file, "cache input '" + name + "' has rank " + s.length + ", expected 4 [batch, kv_heads, past, head_dim]");
                }
                if (kvType == null) {
                    kvType = t.type;
                    kvHeads = s[1];
                    headDim = s[3];
                } else if (t.type != kvType || s[1] != kvHeads || s[3] != headDim) {
                    throw ModelLoadException.at(dir, file, "cache input '" + name + "' differs from '" + pk[0] + "' in type or shape");
                }
                fed.add(name);
            }
            for (String name : new String[] {ok[i], ov[i]}) {
                if (!out.containsKey(name)) {
                    throw ModelLoadException.at(dir, file, "graph lacks cache output '" + name + "'");
                }
            }
        }
        if (kvHeads <= 0 || headDim <= 0) {
            throw ModelLoadException.at(dir, file, "cache inputs need fixed kv_heads and head_dim dimensions, have "
                    + Arrays.toString(in.get(pk[0]).getShape()));
        }
        if (config.kvHeads() != null && config.kvHeads() != kvHeads) {
            throw ModelLoadException.at(dir, file, "cache has " + kvHeads + " kv heads but the config says num_key_value_heads " + config.kvHeads());
        }
        if (config.headDim() != null && config.headDim() != headDim) {
            throw ModelLoadException.at(dir, file, "cache has head size " + headDim + " but the config says head_dim " + config.headDim());
        }
        for (String name : in.keySet()) {
            if (!fed.contains(name)) {
                throw ModelLoadException.at(dir, file, "graph input '" + name + "' is not one the engine knows how to feed");
            }
        }
        TensorInfo logits = out.get(names.logits());
        if (logits == null) {
            throw ModelLoadException.at(dir, file, "graph has no '" + names.logits() + "' output; outputs are " + out.keySet());
        }
        requireFloat(dir, file, names.logits(), logits);
        long vocab = lastDim(logits);
        if (vocab > 0 && config.vocabSize() != null && vocab != config.vocabSize()) {
            throw ModelLoadException.at(dir, file, "logits have " + vocab + " columns but the config says vocab_size " + config.vocabSize());
        }
        long imageMark = embeds && config.attentionMaskImageValue() != null ? config.attentionMaskImageValue() : 0;
        long[] logitsShape = logits.getShape();
        boolean lastOnly = keep != null || (logitsShape.length == 3 && logitsShape[1] == 1);
        return new Decoder(embeds, token, embeds ? tokenInfo.type : null, names.attentionMask(), positions, keep, lastOnly, cacheBranch,
                imageMark, config.kvCacheSharedBuffer(), slidingCache(dir, file, config, pk.length),
                pk, pv, ok, ov, kvType, kvHeads, headDim, names.logits(), logits.type, vocab);
    }

    private static SlidingWindowCache slidingCache(Path dir, Path file, ModelConfig config, int layers) {
        SlidingWindowCache c = config.slidingWindowCache();
        if (c == null) {
            return null;
        }
        if (c.layers().length != layers) {
            throw ModelLoadException.at(dir, file, "conversion.json's slidingWindowCache names " + c.layers().length
                    + " layers but the graph has " + layers);
        }
        if (!config.kvCacheSharedBuffer()) {
            throw ModelLoadException.at(dir, file, "conversion.json's slidingWindowCache needs kvCacheSharedBuffer (a fused graph)");
        }
        return c;
    }

    public static Embedder embedder(Path dir, Path file, OrtSession session, Decoder decoder) {
        Map<String, TensorInfo> in = tensors(dir, file, session, true);
        Map<String, TensorInfo> out = tensors(dir, file, session, false);
        if (in.size() != 1 || !in.containsKey("input_ids")) {
            throw ModelLoadException.at(dir, file, "expected one input 'input_ids', have " + in.keySet());
        }
        requireType(dir, file, "input_ids", in.get("input_ids"), OnnxJavaType.INT64);
        TensorInfo e = out.get("inputs_embeds");
        if (e == null) {
            throw ModelLoadException.at(dir, file, "expected an output 'inputs_embeds', have " + out.keySet());
        }
        requireFloat(dir, file, "inputs_embeds", e);
        if (decoder.embedsType() != null && e.type != decoder.embedsType()) {
            throw ModelLoadException.at(dir, file, "'inputs_embeds' is " + e.type + " but the decoder takes " + decoder.embedsType());
        }
        return new Embedder("input_ids", "inputs_embeds", e.type, lastDim(e));
    }

    public static Vision vision(Path dir, Path file, OrtSession session, ModelConfig config, long hidden, long height, long width) {
        Map<String, TensorInfo> in = tensors(dir, file, session, true);
        Map<String, TensorInfo> out = tensors(dir, file, session, false);
        TensorInfo px = in.get("pixel_values");
        if (in.size() != 1 || px == null) {
            throw ModelLoadException.at(dir, file, "expected one input 'pixel_values', have " + in.keySet());
        }
        requireFloat(dir, file, "pixel_values", px);
        long[] s = px.getShape();
        if (s.length != 4 || (s[1] > 0 && s[1] != 3)) {
            throw ModelLoadException.at(dir, file, "'pixel_values' should be [N,3,H,W], is " + Arrays.toString(s));
        }
        if ((s[2] > 0 && s[2] != height) || (s[3] > 0 && s[3] != width)) {
            throw ModelLoadException.at(dir, file, "'pixel_values' takes " + s[2] + "x" + s[3]
                    + " images but preprocessor_config.json resizes to " + height + "x" + width);
        }
        TensorInfo f = out.get("image_features");
        if (f == null) {
            throw ModelLoadException.at(dir, file, "expected an output 'image_features', have " + out.keySet());
        }
        requireFloat(dir, file, "image_features", f);
        long[] fs = f.getShape();
        if (fs.length != 3) {
            throw ModelLoadException.at(dir, file, "'image_features' should be [N,tokens,hidden], is " + Arrays.toString(fs));
        }
        if (fs[1] > 0 && config.imageSeqLength() != null && fs[1] != config.imageSeqLength()) {
            throw ModelLoadException.at(dir, file, "'image_features' has " + fs[1] + " tokens per image but processor_config.json says image_seq_length "
                    + config.imageSeqLength());
        }
        if (fs[2] > 0 && hidden > 0 && fs[2] != hidden) {
            throw ModelLoadException.at(dir, file, "'image_features' has hidden size " + fs[2] + " but the embeddings have " + hidden);
        }
        return new Vision("pixel_values", px.type, height, width, "image_features", f.type, fs[1], fs[2]);
    }

    private static Map<String, TensorInfo> tensors(Path dir, Path file, OrtSession session, boolean inputs) {
        try {
            Map<String, NodeInfo> info = inputs ? session.getInputInfo() : session.getOutputInfo();
            Map<String, TensorInfo> out = new LinkedHashMap<>();
            for (Map.Entry<String, NodeInfo> e : info.entrySet()) {
                if (!(e.getValue().getInfo() instanceof TensorInfo t)) {
                    throw ModelLoadException.at(dir, file, "'" + e.getKey() + "' is not a tensor");
                }
                out.put(e.getKey(), t);
            }
            return out;
        } catch (OrtException e) {
            throw ModelLoadException.at(dir, file, "cannot read graph inputs/outputs: " + e.getMessage(), e);
        }
    }

    private static void require(Path dir, Path file, Map<String, TensorInfo> in, String name, OnnxJavaType type) {
        TensorInfo t = in.get(name);
        if (t == null) {
            throw ModelLoadException.at(dir, file, "graph lacks input '" + name + "'; inputs are " + in.keySet());
        }
        requireType(dir, file, name, t, type);
    }

    private static void requireType(Path dir, Path file, String name, TensorInfo t, OnnxJavaType type) {
        if (t.type != type) {
            throw ModelLoadException.at(dir, file, "'" + name + "' is " + t.type + ", expected " + type);
        }
    }

    private static void requireFloat(Path dir, Path file, String name, TensorInfo t) {
        if (t.type != OnnxJavaType.FLOAT && t.type != OnnxJavaType.FLOAT16) {
            throw ModelLoadException.at(dir, file, "'" + name + "' is " + t.type + ", expected float32 or float16");
        }
    }

    private static long lastDim(TensorInfo t) {
        long[] s = t.getShape();
        return s.length == 0 ? -1 : s[s.length - 1];
    }
}
