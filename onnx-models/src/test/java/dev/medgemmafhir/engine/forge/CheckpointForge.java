package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Forges tiny random Hugging Face checkpoints in the real format: bf16 safetensors (one file or
 * shards with {@code model.safetensors.index.json}), a {@code config.json} shaped like the
 * released MedGemma / Gemma 3 configs (only a few fields stated, the rest left to transformers'
 * defaults, as Google's 4B config does), and the tokenizer files. The weights, rounded to bf16
 * exactly as stored, are kept in memory for an independent reference forward pass.
 */
public final class CheckpointForge {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** How tensor names are spelled on disk. */
    public enum Naming {
        /** As Google released the multimodal checkpoints: {@code language_model.model.*}, {@code vision_tower.vision_model.*}. */
        RELEASED,
        /** As newer transformers save fine-tunes: {@code model.language_model.*}, {@code model.vision_tower.vision_model.*}. */
        NEWER
    }

    /** Sizes of a forged checkpoint: 7 text layers (5 sliding, 1 global, 1 sliding), window 4. */
    public record Shape(int hidden, int layers, int heads, int kvHeads, int headDim, int intermediate, int vocab,
                        int slidingWindow, double queryPreAttnScalar, int visionHidden, int visionLayers, int visionHeads,
                        int visionIntermediate, int imageSize, int patchSize, int mmTokensPerImage) {

        public static Shape tiny() {
            return new Shape(64, 7, 4, 2, 16, 96, 640, 4, 24, 32, 2, 2, 48, 32, 8, 4);
        }

        /** MedGemma 4B's sizes (text 2560 x 34 layers, SigLIP 1152 x 27 layers at 896 / 14, 256 image tokens). */
        public static Shape medGemma4b() {
            return new Shape(2560, 34, 8, 4, 256, 10240, 262_208, 1024, 256, 1152, 27, 16, 4304, 896, 14, 256);
        }

        public Shape withLayers(int newLayers) {
            return new Shape(hidden, newLayers, heads, kvHeads, headDim, intermediate, vocab, slidingWindow, queryPreAttnScalar,
                    visionHidden, visionLayers, visionHeads, visionIntermediate, imageSize, patchSize, mmTokensPerImage);
        }
    }

    /** A forged checkpoint: its folder, shapes, and the stored weights (bf16 values as floats) by released name. */
    public record Forged(Path dir, Shape shape, boolean imageText, Map<String, float[]> weights, SpecialTokens tokens) {
    }

    private CheckpointForge() {
    }

    public static Forged forge(Path dir, Shape s, boolean imageText, Naming naming, int shards, long seed) {
        return forge(dir, s, imageText, naming, shards, seed, true);
    }

    /**
     * As {@link #forge(Path, Shape, boolean, Naming, int, long)}; with {@code keepWeights} false the
     * tensors stream to disk in chunks and nothing is kept, for checkpoints of the real size.
     */
    public static Forged forge(Path dir, Shape s, boolean imageText, Naming naming, int shards, long seed, boolean keepWeights) {
        try {
            Files.createDirectories(dir);
            ForgeDims dims = new ForgeDims(s.hidden(), s.layers(), s.heads(), s.kvHeads(), s.headDim(), s.intermediate(), s.vocab(),
                    1024, s.imageSize(), s.imageSize() / (int) Math.round(Math.sqrt(s.mmTokensPerImage())));
            ForgeSpec spec = (imageText ? ForgeSpec.imageText() : ForgeSpec.textOnly()).dims(dims);
            ForgedTokenizer tokenizer = new ForgedTokenizer(s.vocab());
            new ModelConfigFiles(spec, tokenizer).writeAll(dir);
            Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(config(s, imageText, tokenizer.specialTokens())),
                    StandardCharsets.UTF_8);

            List<TensorSpec> specs = new ArrayList<>();
            String t = "language_model.model.";
            // Rows small beside the layers' outputs so the context, not the last token, decides the next one.
            specs.add(spec(t + "embed_tokens.weight", 0f, 0.1f, s.vocab(), s.hidden()));
            for (int i = 0; i < s.layers(); i++) {
                String p = t + "layers." + i + ".";
                for (String norm : new String[] {"input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                        "post_feedforward_layernorm"}) {
                    specs.add(spec(p + norm + ".weight", 0f, 0.3f, s.hidden()));
                }
                specs.add(spec(p + "self_attn.q_proj.weight", 0f, gain(s.hidden()), s.heads() * s.headDim(), s.hidden()));
                specs.add(spec(p + "self_attn.k_proj.weight", 0f, gain(s.hidden()), s.kvHeads() * s.headDim(), s.hidden()));
                specs.add(spec(p + "self_attn.v_proj.weight", 0f, gain(s.hidden()), s.kvHeads() * s.headDim(), s.hidden()));
                specs.add(spec(p + "self_attn.o_proj.weight", 0f, gain(s.heads() * s.headDim()), s.hidden(), s.heads() * s.headDim()));
                specs.add(spec(p + "self_attn.q_norm.weight", 0f, 0.3f, s.headDim()));
                specs.add(spec(p + "self_attn.k_norm.weight", 0f, 0.3f, s.headDim()));
                specs.add(spec(p + "mlp.gate_proj.weight", 0f, gain(s.hidden()), s.intermediate(), s.hidden()));
                specs.add(spec(p + "mlp.up_proj.weight", 0f, gain(s.hidden()), s.intermediate(), s.hidden()));
                specs.add(spec(p + "mlp.down_proj.weight", 0f, gain(s.intermediate()), s.hidden(), s.intermediate()));
            }
            // A large final norm scale, as trained Gemma models have, peaks the tied head's logits.
            specs.add(spec(t + "norm.weight", 3f, 0.3f, s.hidden()));
            if (imageText) {
                String v = "vision_tower.vision_model.";
                int c = s.visionHidden();
                int patches = (s.imageSize() / s.patchSize()) * (s.imageSize() / s.patchSize());
                specs.add(spec(v + "embeddings.patch_embedding.weight", 0f, gain(3 * s.patchSize() * s.patchSize()),
                        c, 3, s.patchSize(), s.patchSize()));
                specs.add(spec(v + "embeddings.patch_embedding.bias", 0f, 0.1f, c));
                specs.add(spec(v + "embeddings.position_embedding.weight", 0f, 0.5f, patches, c));
                for (int j = 0; j < s.visionLayers(); j++) {
                    String p = v + "encoder.layers." + j + ".";
                    for (String ln : new String[] {"layer_norm1", "layer_norm2"}) {
                        specs.add(spec(p + ln + ".weight", 1f, 0.2f, c));
                        specs.add(spec(p + ln + ".bias", 0f, 0.1f, c));
                    }
                    for (String proj : new String[] {"q_proj", "k_proj", "v_proj", "out_proj"}) {
                        specs.add(spec(p + "self_attn." + proj + ".weight", 0f, gain(c), c, c));
                        specs.add(spec(p + "self_attn." + proj + ".bias", 0f, 0.1f, c));
                    }
                    specs.add(spec(p + "mlp.fc1.weight", 0f, gain(c), s.visionIntermediate(), c));
                    specs.add(spec(p + "mlp.fc1.bias", 0f, 0.1f, s.visionIntermediate()));
                    specs.add(spec(p + "mlp.fc2.weight", 0f, gain(s.visionIntermediate()), c, s.visionIntermediate()));
                    specs.add(spec(p + "mlp.fc2.bias", 0f, 0.1f, c));
                }
                specs.add(spec(v + "post_layernorm.weight", 1f, 0.2f, c));
                specs.add(spec(v + "post_layernorm.bias", 0f, 0.1f, c));
                specs.add(spec("multi_modal_projector.mm_soft_emb_norm.weight", 0f, 0.3f, c));
                specs.add(spec("multi_modal_projector.mm_input_projection_weight", 0f, gain(c) * 4, c, s.hidden()));
            }
            Map<String, float[]> weights = new LinkedHashMap<>();
            if (keepWeights) {
                for (TensorSpec tensor : specs) {
                    float[] values = new float[Math.toIntExact(tensor.elements())];
                    tensor.values(seed).fill(values, values.length);
                    weights.put(tensor.name(), values);
                }
            }
            writeSafetensors(dir, specs, seed, weights, name -> diskName(name, imageText, naming), shards);
            return new Forged(dir, s, imageText, keepWeights ? weights : Map.of(), tokenizer.specialTokens());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static float gain(int in) {
        return (float) (1 / Math.sqrt(in));
    }

    static String diskName(String released, boolean imageText, Naming naming) {
        if (!imageText) {
            return released.replaceFirst("^language_model\\.model\\.", "model.");
        }
        if (naming == Naming.RELEASED) {
            return released;
        }
        return released.replaceFirst("^language_model\\.model\\.", "model.language_model.")
                .replaceFirst("^vision_tower\\.", "model.vision_tower.")
                .replaceFirst("^multi_modal_projector\\.", "model.multi_modal_projector.");
    }

    /** One tensor to forge: uniform values with this mean and standard deviation, rounded to bf16 as stored. */
    record TensorSpec(String name, float mean, float std, long[] shape) {
        long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** The tensor's values in order, from a stream of its own (so chunks and whole arrays agree). */
        Values values(long seed) {
            SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + name.hashCode());
            float half = (float) (std * Math.sqrt(3));
            return (into, count) -> {
                for (int i = 0; i < count; i++) {
                    into[i] = toBf16(mean + half * (2 * (float) random.nextDouble() - 1));
                }
            };
        }
    }

    interface Values {
        void fill(float[] into, int count);
    }

    private static TensorSpec spec(String name, float mean, float std, long... shape) {
        return new TensorSpec(name, mean, std, shape);
    }

    /** Round to nearest even bf16, as torch does. */
    public static float toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        bits += 0x7FFF + ((bits >>> 16) & 1);
        return Float.intBitsToFloat(bits & 0xFFFF0000);
    }

    private static void writeSafetensors(Path dir, List<TensorSpec> specs, long seed, Map<String, float[]> kept,
                                         java.util.function.UnaryOperator<String> diskName, int shards) throws IOException {
        List<List<TensorSpec>> groups = new ArrayList<>();
        for (int i = 0; i < shards; i++) {
            groups.add(new ArrayList<>());
        }
        int k = 0;
        for (TensorSpec spec : specs) {
            groups.get(k++ * shards / specs.size()).add(spec);
        }
        Map<String, String> weightMap = new LinkedHashMap<>();
        long totalSize = 0;
        for (int i = 0; i < shards; i++) {
            String file = shards == 1 ? "model.safetensors" : String.format("model-%05d-of-%05d.safetensors", i + 1, shards);
            Map<String, Object> header = new LinkedHashMap<>();
            header.put("__metadata__", Map.of("format", "pt"));
            long offset = 0;
            for (TensorSpec spec : groups.get(i)) {
                long bytes = spec.elements() * 2L;
                header.put(diskName.apply(spec.name()), Map.of("dtype", "BF16", "shape", spec.shape(),
                        "data_offsets", List.of(offset, offset + bytes)));
                weightMap.put(diskName.apply(spec.name()), file);
                offset += bytes;
            }
            totalSize += offset;
            byte[] json = JSON.writeValueAsBytes(header);
            int padded = (json.length + 7) / 8 * 8;
            ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
            head.putLong(padded).put(json);
            while (head.hasRemaining()) {
                head.put((byte) ' ');
            }
            head.flip();
            try (FileChannel out = FileChannel.open(dir.resolve(file), StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                    StandardOpenOption.WRITE)) {
                out.write(head);
                float[] chunk = new float[1 << 20];
                ByteBuffer data = ByteBuffer.allocate(chunk.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (TensorSpec spec : groups.get(i)) {
                    float[] stored = kept.get(spec.name());
                    Values values = spec.values(seed);
                    for (long done = 0; done < spec.elements(); ) {
                        int n = (int) Math.min(chunk.length, spec.elements() - done);
                        if (stored != null) {
                            System.arraycopy(stored, (int) done, chunk, 0, n);
                        } else {
                            values.fill(chunk, n);
                        }
                        data.clear();
                        for (int e = 0; e < n; e++) {
                            data.putShort((short) (Float.floatToRawIntBits(chunk[e]) >>> 16));
                        }
                        data.flip();
                        while (data.hasRemaining()) {
                            out.write(data);
                        }
                        done += n;
                    }
                }
            }
        }
        if (shards > 1) {
            Map<String, Object> index = new LinkedHashMap<>();
            index.put("metadata", Map.of("total_size", totalSize));
            index.put("weight_map", weightMap);
            Files.writeString(dir.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index), StandardCharsets.UTF_8);
        }
    }

    /**
     * config.json as released: for image + text, a text_config stating only some sizes (the rest
     * from transformers' defaults would not fit a tiny model, so this forge states what differs) and
     * the old rope form; for text only, the newer form with {@code layer_types} and {@code rope_parameters}.
     */
    private static Map<String, Object> config(Shape s, boolean imageText, SpecialTokens tokens) {
        Map<String, Object> text = new LinkedHashMap<>();
        text.put("model_type", "gemma3_text");
        text.put("hidden_size", s.hidden());
        text.put("intermediate_size", s.intermediate());
        text.put("num_hidden_layers", s.layers());
        text.put("num_attention_heads", s.heads());
        text.put("num_key_value_heads", s.kvHeads());
        text.put("head_dim", s.headDim());
        text.put("vocab_size", s.vocab());
        text.put("sliding_window", s.slidingWindow());
        text.put("query_pre_attn_scalar", s.queryPreAttnScalar());
        text.put("max_position_embeddings", 1024);
        if (imageText) {
            // Old form: rope_theta + rope_scaling for global layers, rope_local_base_freq, (i+1) % 6 rule.
            text.put("rope_scaling", Map.of("factor", 8.0, "rope_type", "linear"));
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("architectures", List.of("Gemma3ForConditionalGeneration"));
            c.put("model_type", "gemma3");
            c.put("boi_token_index", tokens.startOfImage());
            c.put("eoi_token_index", tokens.endOfImage());
            c.put("image_token_index", tokens.imageSoftToken());
            c.put("eos_token_id", tokens.eosTokenIds());
            c.put("mm_tokens_per_image", s.mmTokensPerImage());
            c.put("text_config", text);
            Map<String, Object> vision = new LinkedHashMap<>();
            vision.put("model_type", "siglip_vision_model");
            vision.put("hidden_size", s.visionHidden());
            vision.put("image_size", s.imageSize());
            vision.put("intermediate_size", s.visionIntermediate());
            vision.put("num_attention_heads", s.visionHeads());
            vision.put("num_hidden_layers", s.visionLayers());
            vision.put("patch_size", s.patchSize());
            vision.put("vision_use_head", false);
            c.put("vision_config", vision);
            c.put("torch_dtype", "bfloat16");
            c.put("transformers_version", "4.50.0.dev0");
            return c;
        }
        // Newer form (transformers 5): layer_types and rope_parameters per layer type.
        text.put("architectures", List.of("Gemma3ForCausalLM"));
        List<String> types = new ArrayList<>();
        for (int i = 0; i < s.layers(); i++) {
            types.add((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
        }
        text.put("layer_types", types);
        text.put("rope_parameters", Map.of(
                "full_attention", Map.of("rope_type", "linear", "factor", 8.0, "rope_theta", 1_000_000.0),
                "sliding_attention", Map.of("rope_type", "default", "rope_theta", 10_000.0)));
        text.put("bos_token_id", tokens.bos());
        text.put("eos_token_id", tokens.eosTokenIds());
        text.put("pad_token_id", tokens.pad());
        text.put("dtype", "bfloat16");
        text.put("transformers_version", "5.0.0");
        return text;
    }
}
