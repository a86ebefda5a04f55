package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.model.ModelDirectory;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.medgemmafhir.engine.model.GraphNames;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Turns a Hugging Face Gemma 3 / MedGemma checkpoint into a model directory the engine and
 * transformers.js load: layout A ({@code embed_tokens}, {@code vision_encoder},
 * {@code decoder_model_merged}) for {@code Gemma3ForConditionalGeneration}, layout B
 * ({@code model}) for {@code Gemma3ForCausalLM}. Everything is written into a hidden sibling
 * folder and published by one rename, so an interrupted or failed conversion leaves nothing that
 * looks like a model.
 */
public final class Converter {

    /** Written into every output; also the tool name in conversion.json. */
    public static final String CONVERTER = "medgemma-cli models convert";
    public static final String CONVERSION_FILE = ModelDirectory.CONVERSION_RECORD;

    /** Checkpoint files copied as they are (those present). */
    static final List<String> COPIED = List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "chat_template.json", "chat_template.jinja", "generation_config.json", "preprocessor_config.json",
            "processor_config.json", "added_tokens.json");

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Pattern HF_CACHE = Pattern.compile(".*models--([^/]+)--([^/]+)/snapshots/([0-9a-f]{40}).*");

    private Converter() {
    }

    /** The outcome: where the model went and what was written. */
    public record Result(Path directory, String layout, List<String> graphs) {
    }

    /** Where a checkpoint came from, when its folder does not say (a Hugging Face cache path does). */
    public record Source(String repository, String revision) {
    }

    public static Result convert(Path from, Path to, ConversionOptions options, ConversionProgress progress) {
        return convert(from, to, options, progress, null);
    }

    /** As {@link #convert(Path, Path, ConversionOptions, ConversionProgress)}, recording {@code origin} in conversion.json. */
    public static Result convert(Path from, Path to, ConversionOptions options, ConversionProgress progress, Source origin) {
        Path source = from.toAbsolutePath().normalize();
        Path target = to.toAbsolutePath().normalize();
        if (!Files.isDirectory(source)) {
            throw ConversionException.at(source, "not a directory");
        }
        if (Files.exists(target) && !isEmptyDirectory(target)) {
            throw ConversionException.at(target, "already exists and is not empty; choose another --to or remove it");
        }
        GemmaConfig config = GemmaConfig.read(source.resolve("config.json"));
        if (!Files.isRegularFile(source.resolve("tokenizer.json"))) {
            throw ConversionException.at(source.resolve("tokenizer.json"), "missing (the model directory needs the tokenizer)");
        }
        Path work;
        try {
            Files.createDirectories(target.getParent());
            work = Files.createTempDirectory(target.getParent(), "." + target.getFileName() + ".converting-");
            // A temporary folder is private (0700); the published model must be readable like any other directory.
            if (Files.getFileStore(work).supportsFileAttributeView("posix")) {
                Files.setPosixFilePermissions(work, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        } catch (IOException e) {
            throw ConversionException.at(target.getParent(), "cannot create a working folder: " + e.getMessage());
        }
        try (Checkpoint checkpoint = Checkpoint.open(source);
             LoraAdapter adapter = options.adapter() == null ? null : LoraAdapter.open(options.adapter().toAbsolutePath().normalize())) {
            if (adapter != null) {
                adapter.checkAgainst(checkpoint);
            }
            Result result = write(checkpoint, adapter, config, work, options, progress, origin);
            publish(work, target);
            return new Result(target, result.layout(), result.graphs());
        } catch (IOException e) {
            throw new ConversionException("conversion failed: " + e.getMessage(), e);
        } finally {
            deleteRecursively(work);
        }
    }

    private static Result write(Checkpoint checkpoint, LoraAdapter adapter, GemmaConfig config, Path out, ConversionOptions options,
                                ConversionProgress progress, Source origin) throws IOException {
        Path onnx = Files.createDirectories(out.resolve("onnx"));
        String producer = CONVERTER + " " + version();
        long total = checkpoint.tensors().values().stream().mapToLong(SafetensorsFile.Tensor::length).sum();
        if (config.vision() != null || options.q4()) {
            // The tied head reads the embedding table a second time (layout A's decoder; any q4 head).
            total += checkpoint.tensors().get("text.embed_tokens.weight") == null ? 0 : checkpoint.tensors().get("text.embed_tokens.weight").length();
        }
        progress.begin(total);
        Weights weights = new Weights(checkpoint, progress, adapter);
        GemmaTextGraphs text = new GemmaTextGraphs(config.text(), weights, options.q4Format());
        List<String> graphs = new ArrayList<>();
        String layout;
        if (config.vision() == null) {
            layout = "transformers.js text (B)";
            String model = "model" + options.suffix();
            progress.stage(model + ".onnx");
            writeDecoder(text, options, onnx.resolve(model + ".onnx"), onnx.resolve(model + ".onnx_data"), false, producer);
            graphs.add("onnx/" + model + ".onnx");
        } else {
            layout = "transformers.js image + text (A)";
            String embed = "embed_tokens" + options.suffix();
            progress.stage(embed + ".onnx");
            text.writeEmbedTokens(onnx.resolve(embed + ".onnx"), onnx.resolve(embed + ".onnx_data"), producer);
            String vision = "vision_encoder" + options.suffix();
            progress.stage(vision + ".onnx");
            new GemmaVisionGraph(config, weights, options.q4Format())
                    .write(onnx.resolve(vision + ".onnx"), onnx.resolve(vision + ".onnx_data"), producer);
            String decoder = "decoder_model_merged" + options.suffix();
            progress.stage(decoder + ".onnx");
            writeDecoder(text, options, onnx.resolve(decoder + ".onnx"), onnx.resolve(decoder + ".onnx_data"), true, producer);
            graphs.add("onnx/" + embed + ".onnx");
            graphs.add("onnx/" + vision + ".onnx");
            graphs.add("onnx/" + decoder + ".onnx");
        }
        for (String name : COPIED) {
            Path file = checkpoint.dir().resolve(name);
            if (Files.isRegularFile(file)) {
                Files.copy(file, out.resolve(name));
            }
        }
        writeConfig(checkpoint.dir().resolve("config.json"), config, out.resolve("config.json"));
        progress.stage(CONVERSION_FILE);
        writeConversionRecord(checkpoint, adapter, config, options, origin, out.resolve(CONVERSION_FILE), layout, graphs);
        progress.end();
        return new Result(out, layout, graphs);
    }

    private static void writeDecoder(GemmaTextGraphs text, ConversionOptions options, Path file, Path data, boolean embeds,
                                     String producer) throws IOException {
        if (options.fused()) {
            new GemmaFusedDecoder(text).write(file, data, embeds, producer);
        } else {
            text.writeDecoder(file, data, embeds, producer);
        }
    }

    /**
     * The checkpoint's config.json with every text size stated explicitly (the released MedGemma
     * config leaves most to transformers' defaults, which transformers.js and the engine do not know).
     */
    private static void writeConfig(Path sourceFile, GemmaConfig config, Path file) throws IOException {
        ObjectNode root = (ObjectNode) Checkpoint.readJson(sourceFile);
        ObjectNode text = config.vision() == null ? root : (ObjectNode) root.get("text_config");
        GemmaConfig.Text c = config.text();
        text.put("model_type", "gemma3_text");
        text.put("hidden_size", c.hidden());
        text.put("num_hidden_layers", c.layers());
        text.put("num_attention_heads", c.heads());
        text.put("num_key_value_heads", c.kvHeads());
        text.put("head_dim", c.headDim());
        text.put("intermediate_size", c.intermediate());
        text.put("vocab_size", c.vocab());
        text.put("max_position_embeddings", c.maxPositions());
        text.put("sliding_window", c.slidingWindow());
        text.put("query_pre_attn_scalar", c.queryPreAttnScalar());
        text.put("rms_norm_eps", c.rmsNormEps());
        ArrayNode types = text.putArray("layer_types");
        for (boolean sliding : c.slidingLayers()) {
            types.add(sliding ? "sliding_attention" : "full_attention");
        }
        if (config.vision() != null) {
            root.put("model_type", "gemma3");
            root.put("mm_tokens_per_image", config.vision().mmTokensPerImage());
            root.put("image_token_index", config.vision().imageTokenIndex());
            root.put("boi_token_index", config.vision().boiTokenIndex());
            root.put("eoi_token_index", config.vision().eoiTokenIndex());
        }
        JSON.writeValue(file.toFile(), root);
    }

    private static void writeConversionRecord(Checkpoint checkpoint, LoraAdapter adapter, GemmaConfig config, ConversionOptions options,
                                              Source origin, Path file, String layout, List<String> graphs) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("converter", CONVERTER);
        root.put("converterVersion", version());
        root.put("convertedAt", Instant.now().toString());
        ObjectNode source = root.putObject("source");
        Matcher m = HF_CACHE.matcher(checkpoint.dir().toString().replace('\\', '/'));
        if (origin != null) {
            source.put("repository", origin.repository());
            source.put("revision", origin.revision());
        } else if (m.matches()) {
            source.put("repository", m.group(1) + "/" + m.group(2));
            source.put("revision", m.group(3));
        }
        source.put("architecture", config.architecture());
        source.put("dtype", checkpoint.dominantDType().name());
        listFiles(checkpoint.dir(), source.putArray("files"));
        if (adapter != null) {
            ObjectNode a = root.putObject("adapter");
            a.put("type", "LoRA");
            a.put("rank", adapter.rank());
            a.put("alpha", adapter.alpha());
            ArrayNode targets = a.putArray("targetModules");
            adapter.targets().forEach(targets::add);
            listFiles(adapter.dir(), a.putArray("files"));
        }
        options.record(root.putObject("options"));
        root.put("layout", layout);
        if (config.vision() != null) {
            // Tells the engine that this decoder reads image tokens from the attention mask (GraphNames).
            root.put("attentionMaskImageValue", GraphNames.IMAGE_TOKEN_MASK_VALUE);
        }
        if (options.fused()) {
            // GroupQueryAttention writes only the new columns when past and present are one buffer (DecodeBatch uses it).
            root.put("kvCacheSharedBuffer", true);
            GemmaConfig.Text text = config.text();
            boolean anySliding = false;
            for (boolean b : text.slidingLayers()) {
                anySliding |= b;
            }
            if (anySliding) {
                // The fused graph reads evicted tokens from the mask (GraphNames), so DecodeBatch may shorten these layers' cache.
                ObjectNode sliding = root.putObject("slidingWindowCache");
                sliding.put("window", text.slidingWindow());
                ArrayNode layers = sliding.putArray("layers");
                for (boolean b : text.slidingLayers()) {
                    layers.add(b);
                }
            }
        }
        ArrayNode written = root.putArray("graphs");
        graphs.forEach(written::add);
        JSON.writeValue(file.toFile(), root);
    }

    private static void listFiles(Path dir, ArrayNode files) throws IOException {
        try (Stream<Path> all = Files.list(dir)) {
            for (Path f : all.filter(Files::isRegularFile).sorted().toList()) {
                ObjectNode entry = files.addObject();
                entry.put("path", f.getFileName().toString());
                entry.put("bytes", Files.size(f));
                entry.put("sha256", sha256(f));
            }
        }
    }

    /** The source's provenance, read back from a converted directory (null when it was not converted here). */
    public static JsonNode conversionRecord(Path modelDir) {
        Path file = modelDir.resolve(CONVERSION_FILE);
        return Files.isRegularFile(file) ? Checkpoint.readJson(file) : null;
    }

    static String sha256(Path file) throws IOException {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            try (InputStream in = Files.newInputStream(file)) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    sha.update(buf, 0, n);
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static String version() {
        String v = Converter.class.getPackage().getImplementationVersion();
        return v == null ? "development" : v;
    }

    private static void publish(Path work, Path target) throws IOException {
        if (Files.isDirectory(target)) {
            try {
                Files.delete(target);
            } catch (DirectoryNotEmptyException e) {
                throw ConversionException.at(target, "appeared while converting and is not empty; the result was not published");
            }
        }
        try {
            Files.move(work, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            throw ConversionException.at(target, "cannot be published by an atomic rename: " + e.getMessage());
        }
    }

    private static boolean isEmptyDirectory(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.findAny().isEmpty();
        } catch (IOException e) {
            return false;
        }
    }

    /** Removes a folder and everything in it (a pulled checkpoint once converted). */
    public static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the working folder " + dir, e);
        }
    }
}
