package dev.medgemmafhir.engine;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.generation.DecodeBatch;
import dev.medgemmafhir.engine.generation.Generation;
import dev.medgemmafhir.engine.generation.ModelRuntime;
import dev.medgemmafhir.engine.image.ImageLimits;
import dev.medgemmafhir.engine.image.ImagePreprocessor;
import dev.medgemmafhir.engine.image.ImageSpec;
import dev.medgemmafhir.engine.model.ExecutionProvider;
import dev.medgemmafhir.engine.model.GraphInfo;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.Layout;
import dev.medgemmafhir.engine.model.ModelConfig;
import dev.medgemmafhir.engine.model.ModelDirectory;
import dev.medgemmafhir.engine.model.ModelLoadException;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import dev.medgemmafhir.engine.model.SessionFactory;
import dev.medgemmafhir.engine.model.Variant;
import dev.medgemmafhir.engine.model.WeightsDigest;
import dev.medgemmafhir.engine.prompt.ChatFormat;
import dev.medgemmafhir.engine.prompt.PromptTokenizer;

import java.lang.System.Logger.Level;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A MedGemma / Gemma 3 ONNX export loaded into ONNX Runtime: immutable after loading and shared by
 * all requests, each of which runs its own {@link Generation} (own KV cache, own sampler).
 *
 * <pre>{@code
 * try (MedGemmaModel model = MedGemmaModel.load(Path.of("/models/medgemma-4b-it"), "q4", RuntimeOptions.defaults())) {
 *     GenerationResult r = model.generate(GenerationRequest.of(null, "Summarise ...", GenerationParams.greedy(256)));
 * }
 * }</pre>
 */
public final class MedGemmaModel implements Engine {

    private static final System.Logger LOG = System.getLogger(MedGemmaModel.class.getName());

    private final ModelDirectory directory;
    private final ModelConfig config;
    private final String variant;
    private final ChatFormat format;
    private final ImagePreprocessor images;
    private final ModelRuntime runtime;
    private final SessionFactory sessions;
    private final List<GraphInfo> graphs;
    private final ModelIdentity identity;
    private final ModelDirectory.GraphFiles files;
    private final DecodeBatch batch;

    private final ReadWriteLock lifecycle = new ReentrantReadWriteLock();
    private final ConcurrentLinkedQueue<Cancellation> running = new ConcurrentLinkedQueue<>();
    private volatile boolean closed;

    private MedGemmaModel(ModelDirectory directory, ModelConfig config, String variant, ChatFormat format, ImagePreprocessor images,
                          ModelRuntime runtime, SessionFactory sessions, List<GraphInfo> graphs, ModelIdentity identity,
                          ModelDirectory.GraphFiles files) {
        this.files = files;
        this.directory = directory;
        this.config = config;
        this.variant = variant;
        this.format = format;
        this.images = images;
        this.runtime = runtime;
        this.sessions = sessions;
        this.graphs = graphs;
        this.identity = identity;
        this.batch = batchable(directory.layout(), runtime.options(), runtime.decoderSignature()) ? new DecodeBatch(runtime, runtime.options().maxBatch(),
                runtime.options().kvCacheBudgetBytes()) : null;
    }

    /**
     * Whether concurrent generations share decode steps. Left-padding a batch needs a decoder whose attention honours
     * {@code attention_mask} column by column, as the transformers.js exports' standard attention does; onnxruntime-genai
     * builds use {@code GroupQueryAttention}, whose cache lengths come from the mask's row sums (padding on the right),
     * so they decode each sequence alone. A decoder that can share its past and present cache buffer (the converter's
     * fused graph) decodes through the batch even one sequence at a time, since that is where the shared buffer lives.
     */
    private static boolean batchable(Layout layout, RuntimeOptions options, GraphSignatures.Decoder decoder) {
        return (options.maxBatch() > 1 || decoder.sharedKvBuffer()) && layout != Layout.GENAI;
    }

    /** Loads the best variant of {@code dir} on CPU with default options. */
    public static MedGemmaModel load(Path dir) {
        return load(dir, null, RuntimeOptions.defaults());
    }

    /**
     * Loads {@code dir}.
     *
     * @param variant {@code fp32}, {@code q4}, ...; null for the best one present
     * @throws ModelLoadException the directory, a config or a graph is missing or inconsistent (the message names the file)
     */
    public static MedGemmaModel load(Path dir, String variant, RuntimeOptions options) {
        return load(dir, variant, options, ImageLimits.defaults());
    }

    public static MedGemmaModel load(Path dir, String variant, RuntimeOptions options, ImageLimits limits) {
        ModelDirectory directory = ModelDirectory.open(dir);
        Variant requested;
        try {
            requested = variant == null ? null : Variant.parse(variant);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(e.getMessage());
        }
        ModelDirectory.GraphFiles files = directory.graphs(requested);
        Path root = directory.path();
        ModelConfig config = ModelConfig.read(root, directory.layout());

        List<AutoCloseable> opened = new ArrayList<>();
        try {
            PromptTokenizer tokenizer = PromptTokenizer.load(root);
            opened.add(tokenizer);
            ChatFormat format = chatFormat(root, config, tokenizer, directory.layout());
            if (config.chatTemplate() != null && !config.chatTemplate().contains("<start_of_turn>")) {
                LOG.log(Level.WARNING, "{0}: the chat template is not Gemma''s; prompts use Gemma''s chat format regardless", root);
            }
            ImagePreprocessor images = directory.layout() == Layout.TRANSFORMERS_JS_IMAGE_TEXT
                    ? new ImagePreprocessor(ImageSpec.read(root), limits) : null;

            OrtEnvironment env = OrtEnvironment.getEnvironment();
            SessionFactory factory = new SessionFactory(env, options);
            opened.add(factory);
            List<GraphInfo> infos = new ArrayList<>();
            OrtSession decoder = factory.open(root, files.decoder());
            opened.add(decoder);
            infos.add(GraphInfo.of(files.decoder(), decoder));
            GraphSignatures.Decoder ds = GraphSignatures.decoder(root, files.decoder(), decoder, directory.names(), config);
            OrtSession embedder = null;
            GraphSignatures.Embedder es = null;
            if (ds.takesEmbeds()) {
                if (files.embedTokens() == null) {
                    throw ModelLoadException.at(root, files.decoder(), "the decoder takes inputs_embeds but the directory has no embedding graph");
                }
                embedder = factory.open(root, files.embedTokens());
                opened.add(embedder);
                infos.add(0, GraphInfo.of(files.embedTokens(), embedder));
                es = GraphSignatures.embedder(root, files.embedTokens(), embedder, ds);
            }
            OrtSession vision = null;
            GraphSignatures.Vision vs = null;
            if (files.visionEncoder() != null) {
                if (es == null) {
                    throw ModelLoadException.at(root, files.decoder(), "an image + text decoder must take inputs_embeds");
                }
                vision = factory.open(root, files.visionEncoder());
                opened.add(vision);
                infos.add(1, GraphInfo.of(files.visionEncoder(), vision));
                vs = GraphSignatures.vision(root, files.visionEncoder(), vision, config, es.hidden(), images.spec().height(), images.spec().width());
            }
            int[] eos = config.eosIds().stream().mapToInt(Integer::intValue).toArray();
            ModelRuntime runtime = new ModelRuntime(env, decoder, ds, embedder, es, vision, vs,
                    directory.layout() == Layout.GENAI ? 0 : 1,
                    config.imageTokenId() == null ? -1 : config.imageTokenId(),
                    eos, config.contextLength(), tokenizer,
                    tokenizer.singleTokenId("<unused94>"), tokenizer.singleTokenId("<unused95>"),
                    config.defaultTopK(), config.defaultTopP(), options, factory.provider().name());
            ModelIdentity identity = identity(root, config, files);
            LOG.log(Level.INFO, "Loaded {0} ({1}, variant {2}, {3} layers, context {4}) on {5}", identity.modelId(), directory.layout(),
                    files.variant(), ds.layers(), config.contextLength(), factory.provider());
            return new MedGemmaModel(directory, config, files.variant(), format, images, runtime, factory, List.copyOf(infos), identity, files);
        } catch (RuntimeException e) {
            for (int i = opened.size() - 1; i >= 0; i--) {
                try {
                    opened.get(i).close();
                } catch (Exception suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static ChatFormat chatFormat(Path root, ModelConfig config, PromptTokenizer tokenizer, Layout layout) {
        String bos = config.bosToken();
        if (bos == null && config.bosId() != null) {
            bos = tokenizer.decode(new int[] {config.bosId()}, false);
        }
        if (bos == null || bos.isEmpty()) {
            throw ModelLoadException.at(root, root.resolve("tokenizer_config.json"), "no 'bos_token' (and no bos_token_id in the configs)");
        }
        int bosId = tokenizer.singleTokenId(bos);
        if (bosId < 0 || (config.bosId() != null && bosId != config.bosId())) {
            throw ModelLoadException.at(root, root.resolve("tokenizer.json"), "bos token '" + bos + "' is token " + bosId
                    + " but the configs say bos_token_id " + config.bosId());
        }
        for (String t : new String[] {"<start_of_turn>", "<end_of_turn>"}) {
            if (tokenizer.singleTokenId(t) < 0) {
                throw ModelLoadException.at(root, root.resolve("tokenizer.json"), "'" + t + "' is not a token; this is not a Gemma chat tokenizer");
            }
        }
        if (layout != Layout.TRANSFORMERS_JS_IMAGE_TEXT) {
            return new ChatFormat(bos, null);
        }
        String boi = config.boiToken() != null ? config.boiToken() : "<start_of_image>";
        String eoi = config.eoiToken() != null ? config.eoiToken() : "<end_of_image>";
        String image = config.imageToken() != null ? config.imageToken() : tokenizer.decode(new int[] {config.imageTokenId()}, false);
        for (String t : new String[] {boi, eoi}) {
            if (tokenizer.singleTokenId(t) < 0) {
                throw ModelLoadException.at(root, root.resolve("tokenizer.json"), "image marker '" + t + "' is not a single token");
            }
        }
        if (tokenizer.singleTokenId(image) != config.imageTokenId()) {
            throw ModelLoadException.at(root, root.resolve("config.json"), "image_token_index " + config.imageTokenId()
                    + " disagrees with tokenizer.json, where '" + image + "' is token " + tokenizer.singleTokenId(image));
        }
        return new ChatFormat(bos, new ChatFormat.ImageTokens(boi, image, eoi, config.imageSeqLength()));
    }

    private static ModelIdentity identity(Path root, ModelConfig config, ModelDirectory.GraphFiles files) {
        String modelId = root.getFileName() == null ? root.toString() : root.getFileName().toString();
        Optional<String> revision = Optional.empty();
        // Hugging Face cache: .../models--{org}--{name}/snapshots/{revision}
        for (int i = 0; i + 2 < root.getNameCount(); i++) {
            String seg = root.getName(i).toString();
            if (seg.startsWith("models--") && root.getName(i + 1).toString().equals("snapshots")) {
                modelId = seg.substring("models--".length()).replace("--", "/");
                revision = Optional.of(root.getName(i + 2).toString());
            }
        }
        return new ModelIdentity(modelId, config.modelType(), files.variant(), revision, new WeightsDigest(root, weighed(root, files)),
                conversionRecord(root));
    }

    /** The files the weights digest covers: the variant's graphs and their external data, and the tokenizer. */
    private static List<Path> weighed(Path root, ModelDirectory.GraphFiles files) {
        List<Path> weighed = new ArrayList<>(files.allFiles());
        weighed.add(root.resolve("tokenizer.json"));
        return weighed;
    }

    /**
     * The digest {@link ModelIdentity#digest()} would report for {@code variant} (null = the best
     * present), computed from the files alone, without loading them: a directory whose weights were
     * altered may no longer load, and still has to be told apart from the recorded one.
     */
    public static String weightsDigest(Path dir, String variant) {
        ModelDirectory directory = ModelDirectory.open(dir);
        Variant requested;
        try {
            requested = variant == null ? null : Variant.parse(variant);
        } catch (IllegalArgumentException e) {
            throw new ModelLoadException(e.getMessage());
        }
        return new WeightsDigest(directory.path(), weighed(directory.path(), directory.graphs(requested))).get();
    }

    /** The conversion record {@code models convert} wrote beside the graphs, if any; read once at load. */
    private static Optional<String> conversionRecord(Path root) {
        Path file = root.resolve(ModelDirectory.CONVERSION_RECORD);
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        try {
            return Optional.of(Files.readString(file, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw ModelLoadException.at(root, file, "cannot be read: " + e.getMessage());
        }
    }

    // ---- Engine ----

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("model is closed");
            }
            running.add(cancellation);
            try {
                List<float[]> pixels = new ArrayList<>();
                for (ChatMessage m : request.messages()) {
                    for (ContentPart p : m.parts()) {
                        if (p instanceof ContentPart.Image img) {
                            if (images == null) {
                                throw new InvalidInputException("this model takes no images (text-only model directory)");
                            }
                            pixels.add(images.pixelValues(img.encoded()));
                        }
                    }
                }
                int[] ids = promptTokenIds(request.messages());
                return new Generation(runtime, ids, pixels, request.params(), listener, cancellation, true, batch).run();
            } finally {
                running.remove(cancellation);
            }
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /**
     * Continues {@code promptIds} as given, without the chat format (text only). With {@code stopAtEos} false it
     * decodes exactly {@code params.maxNewTokens()} tokens (or up to the context limit): what the {@code bench}
     * command needs for a fixed amount of work on any model, random-weight ones included.
     */
    public GenerationResult generateTokens(int[] promptIds, GenerationParams params, boolean stopAtEos, Cancellation cancellation) {
        lifecycle.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("model is closed");
            }
            running.add(cancellation);
            try {
                return new Generation(runtime, promptIds, List.of(), params, TextStreamListener.NONE, cancellation, stopAtEos, batch).run();
            } finally {
                running.remove(cancellation);
            }
        } finally {
            lifecycle.readLock().unlock();
        }
    }

    /** Sequences decoded together at most: 1 when every generation decodes alone. */
    public int maxBatch() {
        return batch == null ? 1 : batch.maxRows();
    }

    /**
     * Decode steps run so far, by batch size ({@code [steps by rows, nanoseconds by rows]}); empty arrays when every
     * generation decodes alone.
     */
    public long[][] batchStatistics() {
        return batch == null ? new long[][] {new long[0], new long[0]} : batch.stepStatistics();
    }

    /** The most bytes the shared decode steps' KV cache has held at once since loading; 0 without them. */
    public long peakKvCacheBytes() {
        return batch == null ? 0 : batch.peakCacheBytes();
    }

    /** The decoder's inputs and outputs as the engine feeds them (cache layout, element types, vocabulary). */
    public GraphSignatures.Decoder decoderSignature() {
        return runtime.decoderSignature();
    }

    /** The graph files of the loaded variant, external data included. */
    public ModelDirectory.GraphFiles graphFiles() {
        return files;
    }

    /** The prompt text of {@code messages} in the model's chat format, image runs expanded. */
    public String renderPrompt(List<ChatMessage> messages) {
        return format.render(messages);
    }

    /** The prompt token ids of {@code messages}. */
    public int[] promptTokenIds(List<ChatMessage> messages) {
        return runtime.tokenizer().encode(format.render(messages));
    }

    @Override
    public int countTokens(String text) {
        return runtime.tokenizer().encode(text).length;
    }

    @Override
    public int countPromptTokens(GenerationRequest request) {
        return promptTokenIds(request.messages()).length;
    }

    @Override
    public int contextLength() {
        return config.contextLength();
    }

    @Override
    public ModelIdentity identity() {
        return identity;
    }

    /** The model's tokenizer (shared; do not close). */
    public PromptTokenizer tokenizer() {
        return runtime.tokenizer();
    }

    public ModelDirectory directory() {
        return directory;
    }

    public Layout layout() {
        return directory.layout();
    }

    public ModelConfig config() {
        return config;
    }

    /** The variant in use. */
    public String variant() {
        return variant;
    }

    /** Whether this model takes image parts. */
    public boolean acceptsImages() {
        return images != null;
    }

    /** Where the graphs run (CPU after a CUDA fallback). */
    public ExecutionProvider executionProvider() {
        return sessions.provider();
    }

    /** Inputs and outputs of each loaded graph. */
    public List<GraphInfo> graphs() {
        return graphs;
    }

    /** Cancels running generations, waits for them to end, then frees the sessions. */
    @Override
    public void close() {
        closed = true;
        for (Cancellation c : running) {
            c.cancel();
        }
        lifecycle.writeLock().lock();
        try {
            if (batch != null) {
                batch.close();
            }
            for (OrtSession s : new OrtSession[] {runtime.decoder(), runtime.embedder(), runtime.vision()}) {
                if (s != null) {
                    s.close();
                }
            }
            sessions.close();
            runtime.tokenizer().close();
        } catch (OrtException e) {
            throw new EngineException("closing ONNX Runtime sessions failed: " + e.getMessage(), e);
        } finally {
            lifecycle.writeLock().unlock();
        }
    }
}
