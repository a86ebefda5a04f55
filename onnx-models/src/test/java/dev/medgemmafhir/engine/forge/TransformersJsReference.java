package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs the transformers.js reference ({@code onnx-models/src/test/js/reference.mjs}) on a model
 * directory: greedy token ids from an independent implementation, the chat template rendered by
 * transformers.js's Jinja, and its tokenization. Tests call {@link #requireInstalled()} first.
 *
 * <p>Installing the npm dependencies is CI's job ({@code .ci/run}); by hand:
 * {@value #INSTALL_COMMAND} (what {@code onnx-models/src/test/js/install.sh} runs). Without them
 * the tests fail with that command in the message, unless {@value #SKIP_ENV}=true.
 */
public final class TransformersJsReference {

    /** Set to {@code true} to skip (not fail) reference tests where Node or the npm packages are missing. */
    public static final String SKIP_ENV = "MEDGEMMA_SKIP_JS_REFERENCE";
    /**
     * Installs {@code @huggingface/transformers} from the lock file. onnxruntime-node's CPU binaries
     * ship inside its npm package; the flag stops its postinstall from downloading GPU builds (npm 11
     * warns it does not know the flag and, by default, skips dependency install scripts anyway).
     */
    public static final String INSTALL_COMMAND = "npm ci --prefix onnx-models/src/test/js --onnxruntime-node-install=skip";
    /** Overrides where reference.mjs lives (the folder), for callers outside this repository layout. */
    public static final String DIR_PROPERTY = "medgemma.js.reference.dir";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 300;

    private TransformersJsReference() {
    }

    /** A chat message in the Hugging Face format the template reads. */
    public static Map<String, Object> message(String role, String text) {
        return Map.of("role", role, "content", text);
    }

    /** A user turn with one image part followed by text, rendered as {@code <start_of_image>text}. */
    public static Map<String, Object> userImageAndText(String text) {
        return Map.of("role", "user", "content", List.of(Map.of("type", "image"), Map.of("type", "text", "text", text)));
    }

    /**
     * What to ask the reference.
     *
     * @param modelDir       model directory
     * @param dtype          variant name, e.g. {@code fp32}, {@code q4}
     * @param promptTokenIds ids to decode from; null to decode the chat template's ids
     * @param messages       chat messages to render and tokenize; null for none
     * @param images         image files, one per image part / {@code <start_of_image>}
     * @param maxNewTokens   decoding limit (stops earlier on an eos id from generation_config.json)
     * @param generate       false to only render and tokenize
     * @param tokenizeTexts  extra strings to tokenize without special tokens
     */
    public record Request(Path modelDir, String dtype, List<Integer> promptTokenIds, List<Map<String, Object>> messages,
                          List<Path> images, int maxNewTokens, boolean generate, List<String> tokenizeTexts) {

        /** Greedy decoding of the given prompt ids. */
        public static Request greedy(Path modelDir, String dtype, List<Integer> promptTokenIds, int maxNewTokens) {
            return new Request(modelDir, dtype, promptTokenIds, null, List.of(), maxNewTokens, true, List.of());
        }

        /** Renders and tokenizes the messages with transformers.js, then decodes from those ids. */
        public static Request chat(Path modelDir, String dtype, List<Map<String, Object>> messages, int maxNewTokens) {
            return new Request(modelDir, dtype, null, messages, List.of(), maxNewTokens, true, List.of());
        }

        public Request withImages(List<Path> newImages) {
            return new Request(modelDir, dtype, promptTokenIds, messages, newImages, maxNewTokens, generate, tokenizeTexts);
        }

        public Request withMessages(List<Map<String, Object>> newMessages) {
            return new Request(modelDir, dtype, promptTokenIds, newMessages, images, maxNewTokens, generate, tokenizeTexts);
        }

        public Request withoutGeneration() {
            return new Request(modelDir, dtype, promptTokenIds, messages, images, maxNewTokens, false, tokenizeTexts);
        }

        public Request withTexts(List<String> texts) {
            return new Request(modelDir, dtype, promptTokenIds, messages, images, maxNewTokens, generate, texts);
        }
    }

    /**
     * The reference's answer. Fields absent from the request come back null.
     *
     * @param generatedTokenIds            greedy continuation, eos included when emitted
     * @param promptTokenIds               the ids decoding started from
     * @param promptTextViaChatTemplate    the messages rendered with add_generation_prompt
     * @param promptTokenIdsViaChatTemplate that text tokenized without adding special tokens
     *                                     (with images: after Gemma3Processor's image-token expansion)
     * @param tokenizedTexts               ids of each of the request's texts
     * @param generatedText                the continuation decoded, special tokens kept
     * @param raw                          the whole JSON answer (versions and anything added later)
     */
    public record Result(List<Integer> generatedTokenIds, List<Integer> promptTokenIds, String promptTextViaChatTemplate,
                         List<Integer> promptTokenIdsViaChatTemplate, List<List<Integer>> tokenizedTexts,
                         String generatedText, JsonNode raw) {
    }

    /** The folder holding reference.mjs and package.json. */
    public static Path scriptDir() {
        String configured = System.getProperty(DIR_PROPERTY);
        if (configured != null) {
            return Paths.get(configured).toAbsolutePath();
        }
        // Maven runs tests in the module folder; other modules' tests run beside onnx-models/.
        Path here = Paths.get("").toAbsolutePath();
        for (Path dir = here; dir != null; dir = dir.getParent()) {
            for (Path candidate : List.of(dir.resolve("src/test/js"), dir.resolve("onnx-models/src/test/js"))) {
                if (Files.isRegularFile(candidate.resolve("reference.mjs"))) {
                    return candidate;
                }
            }
        }
        throw new IllegalStateException("reference.mjs not found above " + here + "; set -D" + DIR_PROPERTY);
    }

    /** True when {@value #SKIP_ENV} is {@code true}. */
    public static boolean skipRequested() {
        return "true".equalsIgnoreCase(System.getenv(SKIP_ENV));
    }

    /**
     * Fails the calling test with the install command when the npm packages are missing, or
     * aborts it (skipped) when {@value #SKIP_ENV}=true.
     */
    public static void requireInstalled() {
        String problem = installationProblem();
        if (problem == null) {
            return;
        }
        Assumptions.assumeFalse(skipRequested(), SKIP_ENV + "=true: skipping the transformers.js reference (" + problem + ")");
        Assertions.fail(problem + ". Install it with `" + INSTALL_COMMAND + "` (run from the repository root; "
                + "onnx-models/src/test/js/install.sh does the same), or set " + SKIP_ENV + "=true to skip these tests.");
    }

    /** Null when reference.mjs can run, otherwise what is missing. */
    static String installationProblem() {
        Path dir;
        try {
            dir = scriptDir();
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
        if (!Files.isDirectory(dir.resolve("node_modules/@huggingface/transformers"))) {
            return "the transformers.js reference's npm packages are not installed (" + dir.resolve("node_modules") + " lacks @huggingface/transformers)";
        }
        try {
            Process p = new ProcessBuilder(nodeBinary(), "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return "`" + nodeBinary() + " --version` failed";
            }
        } catch (IOException e) {
            return "Node.js (`" + nodeBinary() + "`) is not on the PATH";
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "interrupted while looking for Node.js";
        }
        return null;
    }

    /** Runs reference.mjs once; throws with the script's stderr when it fails. */
    public static Result run(Request request) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model_dir", request.modelDir().toAbsolutePath().toString());
        body.put("dtype", request.dtype());
        body.put("max_new_tokens", request.maxNewTokens());
        body.put("generate", request.generate());
        if (request.promptTokenIds() != null) {
            body.set("prompt_token_ids", JSON.valueToTree(request.promptTokenIds()));
        }
        if (request.messages() != null) {
            body.set("messages", JSON.valueToTree(request.messages()));
        }
        ArrayNode images = body.putArray("images");
        for (Path image : request.images()) {
            images.add(image.toAbsolutePath().toString());
        }
        if (!request.tokenizeTexts().isEmpty()) {
            body.set("tokenize_texts", JSON.valueToTree(request.tokenizeTexts()));
        }

        Path dir = scriptDir();
        Path requestFile = null;
        try {
            requestFile = Files.createTempFile("transformersjs-request", ".json");
            Files.writeString(requestFile, JSON.writeValueAsString(body), StandardCharsets.UTF_8);
            Process process = new ProcessBuilder(nodeBinary(), "reference.mjs", requestFile.toString())
                    .directory(dir.toFile())
                    .start();
            // Drain both pipes concurrently so a chatty stderr cannot block the script.
            CompletableFuture<String> stdout = drain(process.getInputStream());
            CompletableFuture<String> stderr = drain(process.getErrorStream());
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("reference.mjs did not finish within " + TIMEOUT_SECONDS + " s");
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException("reference.mjs failed (exit " + process.exitValue() + ") for "
                        + request.modelDir() + ":\n" + stderr.join());
            }
            return parse(JSON.readTree(stdout.join()));
        } catch (IOException e) {
            throw new IllegalStateException("running reference.mjs in " + dir + " failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running reference.mjs", e);
        } finally {
            if (requestFile != null) {
                try {
                    Files.deleteIfExists(requestFile);
                } catch (IOException ignored) {
                    // a temp file left behind is harmless
                }
            }
        }
    }

    private static Result parse(JsonNode out) {
        List<List<Integer>> tokenized = null;
        if (out.has("tokenized_texts")) {
            tokenized = new ArrayList<>();
            for (JsonNode ids : out.get("tokenized_texts")) {
                tokenized.add(ints(ids));
            }
        }
        return new Result(ints(out.get("generated_token_ids")), ints(out.get("prompt_token_ids")),
                text(out.get("prompt_text_via_chat_template")), ints(out.get("prompt_token_ids_via_chat_template")),
                tokenized, text(out.get("generated_text")), out);
    }

    private static List<Integer> ints(JsonNode array) {
        if (array == null || array.isNull()) {
            return null;
        }
        List<Integer> ids = new ArrayList<>(array.size());
        array.forEach(n -> ids.add(n.asInt()));
        return List.copyOf(ids);
    }

    private static String text(JsonNode node) {
        return node == null || node.isNull() ? null : node.asText();
    }

    private static CompletableFuture<String> drain(InputStream stream) {
        return CompletableFuture.supplyAsync(() -> {
            try (stream) {
                return new String(stream.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(unreadable: " + e + ")";
            }
        });
    }

    private static String nodeBinary() {
        String configured = System.getenv("NODE");
        return configured == null || configured.isBlank() ? "node" : configured;
    }
}
