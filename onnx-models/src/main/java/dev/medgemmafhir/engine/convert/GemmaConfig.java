package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.Locale;

/**
 * The architecture a checkpoint's {@code config.json} describes, with the defaults of
 * transformers' {@code configuration_gemma3.py} / {@code configuration_siglip.py} for whatever it
 * leaves out (the released MedGemma 4B config states only a few text fields and relies on them).
 *
 * @param architecture {@code Gemma3ForConditionalGeneration} or {@code Gemma3ForCausalLM}
 * @param text         the language model
 * @param vision       SigLIP + projector, null for text-only checkpoints
 */
public record GemmaConfig(String architecture, Text text, Vision vision) {

    public static final String IMAGE_TEXT = "Gemma3ForConditionalGeneration";
    public static final String TEXT_ONLY = "Gemma3ForCausalLM";

    /** Rotary embedding of one layer type: base and linear position scaling (1 = none). */
    public record Rope(double theta, double linearFactor) {
    }

    /**
     * @param slidingLayers per layer: true for sliding-window (local) attention, false for global
     */
    public record Text(int hidden, int layers, int heads, int kvHeads, int headDim, int intermediate, int vocab,
                       double rmsNormEps, int maxPositions, int slidingWindow, double queryPreAttnScalar,
                       boolean[] slidingLayers, Rope globalRope, Rope localRope, Double finalLogitSoftcapping,
                       Double attnLogitSoftcapping, boolean tieWordEmbeddings, int bosId, int eosId, int padId) {
    }

    public record Vision(int hidden, int layers, int heads, int intermediate, int imageSize, int patchSize, int channels,
                         double layerNormEps, int mmTokensPerImage, int imageTokenIndex, int boiTokenIndex, int eoiTokenIndex) {

        public int patchesPerSide() {
            return imageSize / patchSize;
        }

        public int tokensPerSide() {
            return (int) Math.round(Math.sqrt(mmTokensPerImage));
        }
    }

    public static GemmaConfig read(Path file) {
        JsonNode root = Checkpoint.readJson(file);
        String architecture = root.path("architectures").path(0).asText(null);
        String modelType = root.path("model_type").asText("");
        if (architecture == null) {
            architecture = switch (modelType) {
                case "gemma3" -> IMAGE_TEXT;
                case "gemma3_text" -> TEXT_ONLY;
                default -> null;
            };
        }
        if (!IMAGE_TEXT.equals(architecture) && !TEXT_ONLY.equals(architecture)) {
            throw ConversionException.at(file, "architecture " + (architecture == null ? "(none, model_type '" + modelType + "')" : architecture)
                    + " is not one the converter knows (" + IMAGE_TEXT + ", " + TEXT_ONLY + ")");
        }
        boolean multimodal = IMAGE_TEXT.equals(architecture);
        JsonNode t = multimodal ? root.path("text_config") : root;
        if (multimodal && !t.isObject()) {
            throw ConversionException.at(file, "no 'text_config' for " + IMAGE_TEXT);
        }
        Fields f = new Fields(file, t);
        String act = f.text("hidden_activation", f.text("hidden_act", "gelu_pytorch_tanh"));
        if (!act.equals("gelu_pytorch_tanh")) {
            throw ConversionException.at(file, "hidden_activation " + act + " is not Gemma 3's gelu_pytorch_tanh");
        }
        int hidden = f.integer("hidden_size", 2304);
        int layers = f.integer("num_hidden_layers", 26);
        int heads = f.integer("num_attention_heads", 8);
        int kvHeads = f.integer("num_key_value_heads", 4);
        int headDim = f.integer("head_dim", 256);
        if (heads % kvHeads != 0 || headDim % 2 != 0) {
            throw ConversionException.at(file, "num_attention_heads " + heads + " / num_key_value_heads " + kvHeads
                    + " / head_dim " + headDim + " do not form grouped attention with rotate-half RoPE");
        }
        boolean[] sliding = new boolean[layers];
        JsonNode types = t.path("layer_types");
        if (types.isArray()) {
            if (types.size() != layers) {
                throw ConversionException.at(file, "layer_types has " + types.size() + " entries for " + layers + " layers");
            }
            for (int i = 0; i < layers; i++) {
                String type = types.get(i).asText();
                if (!type.equals("sliding_attention") && !type.equals("full_attention")) {
                    throw ConversionException.at(file, "layer_types[" + i + "] is " + type);
                }
                sliding[i] = type.equals("sliding_attention");
            }
        } else {
            int pattern = f.integer("sliding_window_pattern", 6);
            for (int i = 0; i < layers; i++) {
                sliding[i] = (i + 1) % pattern != 0;
            }
        }
        Rope global;
        Rope local;
        JsonNode params = t.path("rope_parameters");
        if (params.isObject() && params.has("full_attention")) {
            global = rope(file, params.path("full_attention"), params.path("full_attention").path("rope_theta").asDouble(1_000_000));
            local = rope(file, params.path("sliding_attention"), params.path("sliding_attention").path("rope_theta").asDouble(10_000));
        } else {
            double theta = f.number("rope_theta", params.path("rope_theta").asDouble(1_000_000));
            JsonNode scaling = t.path("rope_scaling");
            global = rope(file, scaling.isObject() ? scaling : params, theta);
            local = new Rope(f.number("rope_local_base_freq", 10_000), 1);
        }
        Text text = new Text(hidden, layers, heads, kvHeads, headDim, f.integer("intermediate_size", 9216),
                f.integer("vocab_size", 262_208), f.number("rms_norm_eps", 1e-6), f.integer("max_position_embeddings", 131_072),
                f.integer("sliding_window", 4096), f.number("query_pre_attn_scalar", 256), sliding, global, local,
                f.optionalNumber("final_logit_softcapping"), f.optionalNumber("attn_logit_softcapping"),
                root.path("tie_word_embeddings").asBoolean(t.path("tie_word_embeddings").asBoolean(true)),
                f.integer("bos_token_id", 2), f.integer("eos_token_id", 1), f.integer("pad_token_id", 0));

        Vision vision = null;
        if (multimodal) {
            JsonNode v = root.path("vision_config");
            if (!v.isObject()) {
                throw ConversionException.at(file, "no 'vision_config' for " + IMAGE_TEXT);
            }
            Fields vf = new Fields(file, v);
            String vact = vf.text("hidden_act", "gelu_pytorch_tanh");
            if (!vact.equals("gelu_pytorch_tanh")) {
                throw ConversionException.at(file, "vision hidden_act " + vact + " is not SigLIP's gelu_pytorch_tanh");
            }
            if (v.path("vision_use_head").asBoolean(false)) {
                throw ConversionException.at(file, "vision_use_head true: Gemma 3 uses SigLIP without its pooling head");
            }
            Fields rf = new Fields(file, root);
            vision = new Vision(vf.integer("hidden_size", 768), vf.integer("num_hidden_layers", 12),
                    vf.integer("num_attention_heads", 12), vf.integer("intermediate_size", 3072), vf.integer("image_size", 224),
                    vf.integer("patch_size", 16), vf.integer("num_channels", 3), vf.number("layer_norm_eps", 1e-6),
                    rf.integer("mm_tokens_per_image", 256), rf.integer("image_token_index", 262_144),
                    rf.integer("boi_token_index", 255_999), rf.integer("eoi_token_index", 256_000));
            int side = vision.tokensPerSide();
            if (side * side != vision.mmTokensPerImage() || vision.imageSize() % vision.patchSize() != 0
                    || vision.patchesPerSide() % side != 0) {
                throw ConversionException.at(file, "image_size " + vision.imageSize() + " / patch_size " + vision.patchSize()
                        + " do not pool evenly to mm_tokens_per_image " + vision.mmTokensPerImage());
            }
        }
        return new GemmaConfig(architecture, text, vision);
    }

    private static Rope rope(Path file, JsonNode scaling, double theta) {
        String type = scaling.isObject() ? scaling.path("rope_type").asText(scaling.path("type").asText("default")) : "default";
        return switch (type.toLowerCase(Locale.ROOT)) {
            case "default" -> new Rope(theta, 1);
            case "linear" -> new Rope(theta, scaling.path("factor").asDouble(1));
            default -> throw ConversionException.at(file, "rope type " + type + " is not supported (default and linear are)");
        };
    }

    /** Typed reads of one JSON object with defaults; a present value of the wrong type is an error. */
    private record Fields(Path file, JsonNode node) {
        int integer(String name, int fallback) {
            JsonNode v = node.path(name);
            if (v.isMissingNode() || v.isNull()) {
                return fallback;
            }
            if (v.isArray() && v.size() > 0 && v.get(0).canConvertToInt()) {
                return v.get(0).asInt();
            }
            if (!v.canConvertToInt() || !v.isIntegralNumber()) {
                throw ConversionException.at(file, "'" + name + "' is " + v + ", expected an integer");
            }
            return v.asInt();
        }

        double number(String name, double fallback) {
            Double v = optionalNumber(name);
            return v == null ? fallback : v;
        }

        Double optionalNumber(String name) {
            JsonNode v = node.path(name);
            if (v.isMissingNode() || v.isNull()) {
                return null;
            }
            if (!v.isNumber()) {
                throw ConversionException.at(file, "'" + name + "' is " + v + ", expected a number");
            }
            return v.asDouble();
        }

        String text(String name, String fallback) {
            JsonNode v = node.path(name);
            return v.isTextual() ? v.asText() : fallback;
        }
    }
}
