package dev.medgemmafhir.engine.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A model directory on disk: which layout it has, which quantization variants it holds and where
 * each graph's files are. Reads file names and small JSON files only; no graph is opened here.
 */
public final class ModelDirectory {

    static final String EMBED = "embed_tokens";
    static final String VISION = "vision_encoder";
    static final String DECODER = "decoder_model_merged";
    static final String TEXT_MODEL = "model";
    /** What {@code models convert} records beside the graphs: source checkpoint, its files' sha256, options. */
    public static final String CONVERSION_RECORD = "conversion.json";

    private final Path dir;
    private final Layout layout;
    private final List<Variant> variants;
    private final JsonFile genai;

    private ModelDirectory(Path dir, Layout layout, List<Variant> variants, JsonFile genai) {
        this.dir = dir;
        this.layout = layout;
        this.variants = variants;
        this.genai = genai;
    }

    /** Recognises the layout of {@code dir}; fails naming the missing or contradictory file. */
    public static ModelDirectory open(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        if (!Files.isDirectory(abs)) {
            throw new ModelLoadException(abs + ": not a directory");
        }
        if (!Files.isRegularFile(abs.resolve("tokenizer.json"))) {
            throw ModelLoadException.at(abs, abs.resolve("tokenizer.json"), "missing file");
        }
        if (Files.isRegularFile(abs.resolve("genai_config.json"))) {
            JsonFile genai = JsonFile.required(abs, "genai_config.json");
            String decoder = genai.text("model.decoder.filename");
            if (decoder == null) {
                throw genai.problem("no 'model.decoder.filename'");
            }
            requireFile(abs, abs.resolve(decoder));
            return new ModelDirectory(abs, Layout.GENAI, List.of(), genai);
        }
        JsonFile config = JsonFile.required(abs, "config.json");
        Path onnx = abs.resolve("onnx");
        if (!Files.isDirectory(onnx)) {
            throw ModelLoadException.at(abs, onnx, "missing folder (the ONNX graphs live in onnx/)");
        }
        boolean multimodal = config.at("vision_config").isObject() || config.integer("image_token_index") != null
                || !variantsOf(onnx, VISION).isEmpty();
        if (multimodal) {
            List<Variant> decoders = variantsOf(onnx, DECODER);
            if (decoders.isEmpty()) {
                throw ModelLoadException.at(abs, onnx.resolve(DECODER + ".onnx"), "missing file (no decoder graph in any variant)");
            }
            List<Variant> complete = new ArrayList<>();
            for (Variant v : decoders) {
                if (Files.isRegularFile(onnx.resolve(v.fileName(EMBED))) && Files.isRegularFile(onnx.resolve(v.fileName(VISION)))) {
                    complete.add(v);
                }
            }
            if (complete.isEmpty()) {
                Variant v = decoders.get(0);
                Path missing = Files.isRegularFile(onnx.resolve(v.fileName(EMBED))) ? onnx.resolve(v.fileName(VISION)) : onnx.resolve(v.fileName(EMBED));
                throw ModelLoadException.at(abs, missing, "missing file (needed beside " + v.fileName(DECODER) + ")");
            }
            return new ModelDirectory(abs, Layout.TRANSFORMERS_JS_IMAGE_TEXT, List.copyOf(complete), null);
        }
        List<Variant> text = variantsOf(onnx, TEXT_MODEL);
        if (text.isEmpty()) {
            throw ModelLoadException.at(abs, onnx.resolve(TEXT_MODEL + ".onnx"), "missing file (no text model graph in any variant)");
        }
        return new ModelDirectory(abs, Layout.TRANSFORMERS_JS_TEXT, List.copyOf(text), null);
    }

    private static List<Variant> variantsOf(Path onnx, String base) {
        List<Variant> out = new ArrayList<>();
        for (Variant v : Variant.preferenceOrder()) {
            if (Files.isRegularFile(onnx.resolve(v.fileName(base)))) {
                out.add(v);
            }
        }
        return out;
    }

    private static void requireFile(Path dir, Path file) {
        if (!Files.isRegularFile(file)) {
            throw ModelLoadException.at(dir, file, "missing file");
        }
    }

    public Path path() {
        return dir;
    }

    public Layout layout() {
        return layout;
    }

    /** Variants present, best first; empty for the genai layout, which holds one build. */
    public List<Variant> variants() {
        return variants;
    }

    /** The genai_config.json of a genai layout. */
    public Optional<JsonFile> genaiConfig() {
        return Optional.ofNullable(genai);
    }

    /**
     * The graph files of {@code requested} (null = the best variant present).
     *
     * @throws ModelLoadException the variant is not in the directory (the message lists those that are)
     */
    public GraphFiles graphs(Variant requested) {
        Path onnx = dir.resolve("onnx");
        if (layout == Layout.GENAI) {
            String file = genai.text("model.decoder.filename");
            String name = file.replaceFirst("\\.onnx$", "");
            String variant = "genai";
            for (Variant v : Variant.values()) {
                if (!v.suffix().isEmpty() && name.endsWith(v.suffix())) {
                    variant = v.id();
                }
            }
            if (requested != null && !requested.id().equals(variant)) {
                throw genai.problem("variant " + requested.id() + " requested, but this onnxruntime-genai build is '" + variant + "' ("
                        + file + ")");
            }
            String embedding = genai.text("model.embedding.filename");
            return new GraphFiles(variant, dir.resolve(file), embedding == null ? null : dir.resolve(embedding), null);
        }
        Variant v = requested == null ? variants.get(0) : requested;
        if (!variants.contains(v)) {
            String base = layout == Layout.TRANSFORMERS_JS_TEXT ? TEXT_MODEL : DECODER;
            throw ModelLoadException.at(dir, onnx.resolve(v.fileName(base)),
                    "variant " + v.id() + " is not complete in this directory; present: " + Variant.names(variants));
        }
        if (layout == Layout.TRANSFORMERS_JS_TEXT) {
            return new GraphFiles(v.id(), onnx.resolve(v.fileName(TEXT_MODEL)), null, null);
        }
        return new GraphFiles(v.id(), onnx.resolve(v.fileName(DECODER)), onnx.resolve(v.fileName(EMBED)), onnx.resolve(v.fileName(VISION)));
    }

    /** The names of the decoder's inputs and outputs. */
    public GraphNames names() {
        if (layout != Layout.GENAI) {
            return GraphNames.transformersJs();
        }
        GraphNames d = GraphNames.transformersJs();
        return new GraphNames(
                orDefault(genai.text("model.decoder.inputs.input_ids"), d.inputIds()),
                orDefault(genai.text("model.decoder.inputs.inputs_embeds"), d.inputsEmbeds()),
                orDefault(genai.text("model.decoder.inputs.attention_mask"), d.attentionMask()),
                orDefault(genai.text("model.decoder.inputs.position_ids"), d.positionIds()),
                orDefault(genai.text("model.decoder.inputs.past_key_names"), d.pastKey()),
                orDefault(genai.text("model.decoder.inputs.past_value_names"), d.pastValue()),
                orDefault(genai.text("model.decoder.outputs.logits"), d.logits()),
                orDefault(genai.text("model.decoder.outputs.present_key_names"), d.presentKey()),
                orDefault(genai.text("model.decoder.outputs.present_value_names"), d.presentValue()));
    }

    private static String orDefault(String v, String d) {
        return v == null ? d : v;
    }

    /** External weight files beside {@code graph}: {@code X.onnx_data}, {@code X.onnx_data_1}, ... (genai: {@code X.onnx.data}). */
    public static List<Path> externalData(Path graph) {
        String prefix = graph.getFileName().toString() + "_data";
        String genaiData = graph.getFileName().toString() + ".data";
        List<Path> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(graph.getParent())) {
            s.filter(p -> {
                String n = p.getFileName().toString();
                return n.equals(prefix) || n.equals(genaiData) || n.matches(java.util.regex.Pattern.quote(prefix) + "_\\d+");
            }).sorted().forEach(out::add);
        } catch (IOException e) {
            throw new ModelLoadException(graph.getParent() + ": cannot list folder: " + e.getMessage(), e);
        }
        return out;
    }

    /**
     * The files of one variant.
     *
     * @param variant the variant's name
     * @param decoder the decoder graph (the whole model for text-only layouts)
     * @param embedTokens the token-embedding graph, null when the decoder takes input_ids
     * @param visionEncoder the vision encoder, null for text-only models
     */
    public record GraphFiles(String variant, Path decoder, Path embedTokens, Path visionEncoder) {

        /** Every graph file of the variant, external data included, in a stable order. */
        public List<Path> allFiles() {
            List<Path> out = new ArrayList<>();
            for (Path g : new Path[] {embedTokens, visionEncoder, decoder}) {
                if (g != null) {
                    out.add(g);
                    out.addAll(externalData(g));
                }
            }
            return out;
        }
    }
}
