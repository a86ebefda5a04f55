package dev.medgemmafhir.engine.model;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * What the engine needs from a model directory's JSON files: token ids, sizes, the chat template.
 * Nothing here is a built-in constant; absent optional values are null.
 *
 * @param modelType {@code model_type} (config.json) or {@code model.type} (genai_config.json)
 * @param hiddenSize {@code hidden_size}, null when not stated
 * @param numLayers {@code num_hidden_layers}, null when not stated
 * @param kvHeads {@code num_key_value_heads}, null when not stated
 * @param headDim {@code head_dim}, null when not stated
 * @param vocabSize {@code vocab_size}, null when not stated
 * @param contextLength maximum prompt + generated tokens
 * @param eosIds every end-of-sequence id named by config.json, generation_config.json or genai_config.json
 * @param bosId beginning-of-sequence id, null when not stated
 * @param bosToken the text of the beginning-of-sequence token, null when not stated
 * @param imageTokenId id of the image soft token that image features replace, null for text models
 * @param boiToken text of the start-of-image token, null for text models
 * @param eoiToken text of the end-of-image token, null for text models
 * @param imageToken text of the image soft token, null for text models
 * @param imageSeqLength image soft tokens per image, null for text models
 * @param chatTemplate the Jinja chat template (chat_template.json or tokenizer_config.json), null when absent
 * @param defaultTopK generation_config.json {@code top_k}, null when absent
 * @param defaultTopP generation_config.json {@code top_p}, null when absent
 * @param attentionMaskImageValue the attention_mask value that marks image tokens for bidirectional
 *     attention (conversion.json {@code attentionMaskImageValue}), null when the graph has no such rule
 */
public record ModelConfig(
        String modelType,
        Integer hiddenSize,
        Integer numLayers,
        Integer kvHeads,
        Integer headDim,
        Integer vocabSize,
        int contextLength,
        List<Integer> eosIds,
        Integer bosId,
        String bosToken,
        Integer imageTokenId,
        String boiToken,
        String eoiToken,
        String imageToken,
        Integer imageSeqLength,
        String chatTemplate,
        Integer defaultTopK,
        Double defaultTopP,
        Long attentionMaskImageValue,
        boolean kvCacheSharedBuffer,
        SlidingWindowCache slidingWindowCache) {

    /** Reads the JSON files of {@code dir} for {@code layout}. */
    public static ModelConfig read(Path dir, Layout layout) {
        JsonFile config = layout == Layout.GENAI ? JsonFile.optional(dir, "config.json") : JsonFile.required(dir, "config.json");
        JsonFile generation = JsonFile.optional(dir, "generation_config.json");
        JsonFile tokenizerConfig = JsonFile.optional(dir, "tokenizer_config.json");
        JsonFile chatTemplateFile = JsonFile.optional(dir, "chat_template.json");
        JsonFile specialTokens = JsonFile.optional(dir, "special_tokens_map.json");
        JsonFile genai = layout == Layout.GENAI ? JsonFile.required(dir, "genai_config.json") : null;

        // Multimodal configs keep the language model's sizes under text_config.
        String text = config.at("text_config").isObject() ? "text_config." : "";
        String modelType = genai != null && genai.text("model.type") != null ? genai.text("model.type") : config.text("model_type");
        if (modelType == null) {
            throw config.problem("no 'model_type'");
        }

        Integer hidden = first(genai == null ? null : genai.integer("model.decoder.hidden_size"), config.integer(text + "hidden_size"));
        Integer layers = first(genai == null ? null : genai.integer("model.decoder.num_hidden_layers"), config.integer(text + "num_hidden_layers"));
        Integer kvHeads = first(genai == null ? null : genai.integer("model.decoder.num_key_value_heads"), config.integer(text + "num_key_value_heads"));
        Integer headDim = first(genai == null ? null : genai.integer("model.decoder.head_size"), config.integer(text + "head_dim"));
        Integer vocab = first(genai == null ? null : genai.integer("model.vocab_size"), config.integer(text + "vocab_size"));

        Integer context = genai == null ? null : genai.integer("model.context_length");
        if (context == null) {
            context = config.integer(text + "max_position_embeddings");
        }
        if (context == null) {
            Integer tokMax = tokenizerConfig.integer("model_max_length");
            context = tokMax != null && tokMax < 10_000_000 ? tokMax : null;
        }
        if (context == null || context < 2) {
            throw (genai != null ? genai : config).problem("no usable context length (max_position_embeddings / context_length)");
        }

        Set<Integer> eos = new LinkedHashSet<>();
        if (genai != null) {
            eos.addAll(genai.integers("model.eos_token_id"));
        }
        eos.addAll(generation.integers("eos_token_id"));
        eos.addAll(config.integers("eos_token_id"));
        eos.addAll(config.integers(text + "eos_token_id"));
        if (eos.isEmpty()) {
            throw config.problem("no 'eos_token_id' here, in generation_config.json or genai_config.json");
        }
        Integer bos = first(generation.integer("bos_token_id"), config.integer("bos_token_id"), config.integer(text + "bos_token_id"),
                genai == null ? null : genai.integer("model.bos_token_id"));
        String bosToken = first(tokenizerConfig.text("bos_token"), specialTokens.text("bos_token"));

        Integer imageTokenId = first(config.integer("image_token_index"), config.integer("image_token_id"));
        String boi = null;
        String eoi = null;
        String imageToken = null;
        Integer imageSeq = null;
        if (layout == Layout.TRANSFORMERS_JS_IMAGE_TEXT) {
            if (imageTokenId == null) {
                throw config.problem("an image + text model needs 'image_token_index'");
            }
            boi = first(specialTokens.text("boi_token"), tokenizerConfig.text("boi_token"));
            eoi = first(specialTokens.text("eoi_token"), tokenizerConfig.text("eoi_token"));
            imageToken = first(specialTokens.text("image_token"), tokenizerConfig.text("image_token"));
            JsonFile processor = JsonFile.optional(dir, "processor_config.json");
            imageSeq = first(processor.integer("image_seq_length"), config.integer("mm_tokens_per_image"));
            if (imageSeq == null || imageSeq < 1) {
                throw processor.problem("no usable 'image_seq_length' (nor 'mm_tokens_per_image' in config.json)");
            }
        }

        String template = null;
        Path jinja = dir.resolve("chat_template.jinja");
        JsonNode t = chatTemplateFile.exists() ? chatTemplateFile.at("chat_template") : tokenizerConfig.at("chat_template");
        if (java.nio.file.Files.isRegularFile(jinja)) {
            try {
                template = java.nio.file.Files.readString(jinja);
            } catch (java.io.IOException e) {
                throw ModelLoadException.at(dir, jinja, "unreadable: " + e.getMessage(), e);
            }
        } else if (t.isTextual()) {
            template = t.textValue();
        } else if (t.isArray()) {
            // Named templates: [{"name": "default", "template": "..."}, ...]
            for (JsonNode e : t) {
                if ("default".equals(e.path("name").asText()) && e.path("template").isTextual()) {
                    template = e.path("template").textValue();
                }
            }
        }

        return new ModelConfig(modelType, hidden, layers, kvHeads, headDim, vocab, context, List.copyOf(eos), bos, bosToken,
                imageTokenId, boi, eoi, imageToken, imageSeq, template,
                generation.integer("top_k"), generation.number("top_p"),
                imageMaskValue(JsonFile.optional(dir, ModelDirectory.CONVERSION_RECORD)),
                JsonFile.optional(dir, ModelDirectory.CONVERSION_RECORD).at("kvCacheSharedBuffer").asBoolean(false),
                slidingWindowCache(JsonFile.optional(dir, ModelDirectory.CONVERSION_RECORD)));
    }

    /** conversion.json {@code slidingWindowCache}: {@code {"window": 1024, "layers": [true, ..., false]}}, or null. */
    private static SlidingWindowCache slidingWindowCache(JsonFile conversion) {
        var node = conversion.at("slidingWindowCache");
        if (node.isMissingNode() || node.isNull()) {
            return null;
        }
        var layers = node.path("layers");
        if (!node.path("window").canConvertToInt() || node.path("window").asInt() < 1 || !layers.isArray()) {
            throw conversion.problem("'slidingWindowCache' needs a positive 'window' and a 'layers' array of booleans");
        }
        boolean[] sliding = new boolean[layers.size()];
        for (int i = 0; i < sliding.length; i++) {
            if (!layers.get(i).isBoolean()) {
                throw conversion.problem("'slidingWindowCache.layers' must hold booleans");
            }
            sliding[i] = layers.get(i).asBoolean();
        }
        return new SlidingWindowCache(node.path("window").asInt(), sliding);
    }

    private static Long imageMaskValue(JsonFile conversion) {
        Integer v = conversion.integer("attentionMaskImageValue");
        if (v != null && v < 2) {
            throw conversion.problem("'attentionMaskImageValue' must be 2 or more (0 and 1 already mean masked and attend)");
        }
        return v == null ? null : v.longValue();
    }

    @SafeVarargs
    private static <T> T first(T... values) {
        for (T v : values) {
            if (v != null) {
                return v;
            }
        }
        return null;
    }
}
