package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The JSON files beside the graphs, with the fields the real MedGemma / Gemma 3 snapshots carry
 * (names, nesting and types), filled with the forged model's sizes and token ids.
 */
final class ModelConfigFiles {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final ForgeSpec spec;
    private final ForgeDims d;
    private final ForgedTokenizer tokenizer;
    private final SpecialTokens t;

    ModelConfigFiles(ForgeSpec spec, ForgedTokenizer tokenizer) {
        this.spec = spec;
        this.d = spec.dims();
        this.tokenizer = tokenizer;
        this.t = tokenizer.specialTokens();
    }

    void writeAll(Path dir) throws IOException {
        write(dir.resolve("tokenizer.json"), tokenizer.tokenizerJson());
        write(dir.resolve("tokenizer_config.json"), tokenizerConfig());
        write(dir.resolve("special_tokens_map.json"), specialTokensMap());
        switch (spec.layout()) {
            case IMAGE_TEXT -> {
                write(dir.resolve("config.json"), imageTextConfig());
                write(dir.resolve("generation_config.json"), generationConfig());
                write(dir.resolve("preprocessor_config.json"), preprocessorConfig());
                write(dir.resolve("processor_config.json"), processorConfig());
                // Multimodal snapshots also carry the template as a file; transformers.js's
                // Gemma3Processor requires it. Same text as tokenizer_config.json's.
                Files.writeString(dir.resolve("chat_template.jinja"), GemmaChatTemplate.TEXT, StandardCharsets.UTF_8);
            }
            case TEXT_ONLY -> {
                write(dir.resolve("config.json"), textConfig(true));
                write(dir.resolve("generation_config.json"), generationConfig());
            }
            case GENAI -> write(dir.resolve("genai_config.json"), genaiConfig());
        }
    }

    private static void write(Path file, Object document) throws IOException {
        Files.writeString(file, JSON.writeValueAsString(document), StandardCharsets.UTF_8);
    }

    /** Gemma 3's text config; top-level for layout B, {@code text_config} for layout A. */
    private Map<String, Object> textConfig(boolean topLevel) {
        Map<String, Object> c = new LinkedHashMap<>();
        if (topLevel) {
            c.put("architectures", List.of("Gemma3ForCausalLM"));
        }
        c.put("model_type", "gemma3_text");
        c.put("attention_bias", false);
        c.put("attention_dropout", 0.0);
        c.put("attn_logit_softcapping", null);
        c.put("bos_token_id", t.bos());
        c.put("eos_token_id", topLevel ? t.eosTokenIds() : t.eos());
        c.put("pad_token_id", t.pad());
        c.put("final_logit_softcapping", null);
        c.put("head_dim", d.headDim());
        // The forged MLP gates with SiLU (Gemma uses gelu_pytorch_tanh); the config says what the graph does.
        c.put("hidden_activation", "silu");
        c.put("hidden_size", d.hidden());
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", d.intermediate());
        c.put("max_position_embeddings", d.maxPositions());
        c.put("num_attention_heads", d.heads());
        c.put("num_hidden_layers", d.layers());
        c.put("num_key_value_heads", d.kvHeads());
        c.put("query_pre_attn_scalar", d.headDim());
        c.put("rms_norm_eps", (double) ForgedWeights.NORM_EPS);
        c.put("rope_local_base_freq", (double) ForgedWeights.ROPE_THETA);
        c.put("rope_scaling", null);
        c.put("rope_theta", (double) ForgedWeights.ROPE_THETA);
        // No sliding-window layers in the forged graph: the window spans the whole context.
        c.put("sliding_window", d.maxPositions());
        c.put("torch_dtype", "float32");
        c.put("use_cache", true);
        c.put("vocab_size", d.vocab());
        if (topLevel) {
            c.put("transformers_version", "4.50.0");
        }
        return c;
    }

    private Map<String, Object> imageTextConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of("Gemma3ForConditionalGeneration"));
        c.put("model_type", "gemma3");
        c.put("boi_token_index", t.startOfImage());
        c.put("eoi_token_index", t.endOfImage());
        c.put("image_token_index", t.imageSoftToken());
        c.put("eos_token_id", t.eosTokenIds());
        c.put("initializer_range", 0.02);
        c.put("mm_tokens_per_image", d.tokensPerImage());
        c.put("text_config", textConfig(false));
        Map<String, Object> vision = new LinkedHashMap<>();
        vision.put("model_type", "siglip_vision_model");
        vision.put("hidden_size", d.hidden());
        vision.put("image_size", d.imageSize());
        vision.put("num_channels", 3);
        vision.put("patch_size", d.patchSize());
        vision.put("num_hidden_layers", 0);
        c.put("vision_config", vision);
        c.put("torch_dtype", "float32");
        c.put("transformers_version", "4.50.0");
        return c;
    }

    private Map<String, Object> generationConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("bos_token_id", t.bos());
        c.put("cache_implementation", "hybrid");
        c.put("do_sample", true);
        c.put("eos_token_id", t.eosTokenIds());
        c.put("pad_token_id", t.pad());
        c.put("top_k", 64);
        c.put("top_p", 0.95);
        c.put("transformers_version", "4.50.0");
        return c;
    }

    private Map<String, Object> tokenizerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("add_bos_token", true);
        c.put("add_eos_token", false);
        Map<String, Object> decoder = new LinkedHashMap<>();
        for (Map<String, Object> added : tokenizer.addedTokens()) {
            Map<String, Object> entry = new LinkedHashMap<>(added);
            entry.remove("id");
            decoder.put(String.valueOf(added.get("id")), entry);
        }
        c.put("added_tokens_decoder", decoder);
        c.put("boi_token", "<start_of_image>");
        c.put("bos_token", "<bos>");
        c.put("chat_template", GemmaChatTemplate.TEXT);
        c.put("clean_up_tokenization_spaces", false);
        c.put("eoi_token", "<end_of_image>");
        c.put("eos_token", "<eos>");
        c.put("extra_special_tokens", Map.of(
                "boi_token", "<start_of_image>", "eoi_token", "<end_of_image>", "image_token", "<image_soft_token>"));
        c.put("image_token", "<image_soft_token>");
        c.put("model_max_length", d.maxPositions());
        c.put("pad_token", "<pad>");
        c.put("padding_side", "left");
        if (spec.layout() == ModelLayout.IMAGE_TEXT) {
            c.put("processor_class", "Gemma3Processor");
        }
        c.put("sp_model_kwargs", Map.of());
        c.put("spaces_between_special_tokens", false);
        c.put("tokenizer_class", "GemmaTokenizer");
        c.put("unk_token", "<unk>");
        c.put("use_default_system_prompt", false);
        return c;
    }

    private Map<String, Object> specialTokensMap() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("boi_token", "<start_of_image>");
        c.put("bos_token", tokenEntry("<bos>"));
        c.put("eoi_token", "<end_of_image>");
        c.put("eos_token", tokenEntry("<eos>"));
        c.put("image_token", "<image_soft_token>");
        c.put("pad_token", tokenEntry("<pad>"));
        c.put("unk_token", tokenEntry("<unk>"));
        return c;
    }

    private static Map<String, Object> tokenEntry(String content) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("content", content);
        e.put("lstrip", false);
        e.put("normalized", false);
        e.put("rstrip", false);
        e.put("single_word", false);
        return e;
    }

    private Map<String, Object> preprocessorConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("do_convert_rgb", true);
        c.put("do_normalize", true);
        c.put("do_pan_and_scan", null);
        c.put("do_rescale", true);
        c.put("do_resize", true);
        c.put("image_mean", List.of(0.5, 0.5, 0.5));
        c.put("image_processor_type", "Gemma3ImageProcessor");
        c.put("image_seq_length", d.tokensPerImage());
        c.put("image_std", List.of(0.5, 0.5, 0.5));
        c.put("pan_and_scan_max_num_crops", null);
        c.put("pan_and_scan_min_crop_size", null);
        c.put("pan_and_scan_min_ratio_to_activate", null);
        c.put("processor_class", "Gemma3Processor");
        c.put("resample", 2);
        c.put("rescale_factor", 1.0 / 255.0);
        c.put("size", Map.of("height", d.imageSize(), "width", d.imageSize()));
        return c;
    }

    private Map<String, Object> processorConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("image_seq_length", d.tokensPerImage());
        c.put("processor_class", "Gemma3Processor");
        return c;
    }

    /** onnxruntime-genai's config: graph file, input/output name patterns, sizes and search defaults. */
    private Map<String, Object> genaiConfig() {
        Map<String, Object> inputs = new LinkedHashMap<>();
        inputs.put("input_ids", "input_ids");
        inputs.put("attention_mask", "attention_mask");
        inputs.put("position_ids", "position_ids");
        inputs.put("past_key_names", "past_key_values.%d.key");
        inputs.put("past_value_names", "past_key_values.%d.value");
        if (spec.numLogitsToKeep()) {
            inputs.put("num_logits_to_keep", "num_logits_to_keep");
        }
        Map<String, Object> outputs = new LinkedHashMap<>();
        outputs.put("logits", "logits");
        outputs.put("present_key_names", "present.%d.key");
        outputs.put("present_value_names", "present.%d.value");

        Map<String, Object> decoder = new LinkedHashMap<>();
        decoder.put("session_options", Map.of("log_id", "onnxruntime-genai", "provider_options", List.of()));
        decoder.put("filename", "model.onnx");
        decoder.put("head_size", d.headDim());
        decoder.put("hidden_size", d.hidden());
        decoder.put("inputs", inputs);
        decoder.put("outputs", outputs);
        decoder.put("num_attention_heads", d.heads());
        decoder.put("num_hidden_layers", d.layers());
        decoder.put("num_key_value_heads", d.kvHeads());

        Map<String, Object> model = new LinkedHashMap<>();
        model.put("bos_token_id", t.bos());
        model.put("context_length", d.maxPositions());
        model.put("decoder", decoder);
        model.put("eos_token_id", t.eosTokenIds());
        model.put("pad_token_id", t.pad());
        model.put("type", "gemma3_text");
        model.put("vocab_size", d.vocab());

        Map<String, Object> search = new LinkedHashMap<>();
        search.put("diversity_penalty", 0.0);
        search.put("do_sample", false);
        search.put("early_stopping", true);
        search.put("length_penalty", 1.0);
        search.put("max_length", d.maxPositions());
        search.put("min_length", 0);
        search.put("no_repeat_ngram_size", 0);
        search.put("num_beams", 1);
        search.put("num_return_sequences", 1);
        // Concat-based caches grow each step; GroupQueryAttention builds would share one buffer (true).
        search.put("past_present_share_buffer", false);
        search.put("repetition_penalty", 1.0);
        search.put("temperature", 1.0);
        search.put("top_k", 1);
        search.put("top_p", 1.0);

        Map<String, Object> c = new LinkedHashMap<>();
        c.put("model", model);
        c.put("search", search);
        return c;
    }
}
