package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Runs llama.cpp through {@code onnx-models/bench/llamacpp/llamacpp.mjs} (npm {@code node-llama-cpp},
 * prebuilt CPU binaries). {@code .ci/run} installs it ({@value #INSTALL_COMMAND}); a test calling
 * {@link #requireInstalled()} is skipped only where Node.js itself is missing, and fails with the
 * install command where Node is there but the package is not.
 */
final class LlamaCpp {

    static final String INSTALL_COMMAND = "sh onnx-models/bench/llamacpp/install.sh";
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_SECONDS = 120;

    private LlamaCpp() {
    }

    /** The folder holding llamacpp.mjs and its package.json. */
    static Path scriptDir() {
        Path here = Paths.get("").toAbsolutePath();
        for (Path dir = here; dir != null; dir = dir.getParent()) {
            for (Path candidate : List.of(dir.resolve("bench/llamacpp"), dir.resolve("onnx-models/bench/llamacpp"))) {
                if (Files.isRegularFile(candidate.resolve("llamacpp.mjs"))) {
                    return candidate;
                }
            }
        }
        throw new IllegalStateException("bench/llamacpp/llamacpp.mjs not found above " + here);
    }

    static void requireInstalled() {
        Assumptions.assumeTrue(nodeAvailable(), "Node.js (`node`) is not on the PATH: skipping the llama.cpp check");
        if (!Files.isDirectory(scriptDir().resolve("node_modules/node-llama-cpp"))) {
            Assertions.fail("node-llama-cpp is not installed in " + scriptDir() + "; run `" + INSTALL_COMMAND
                    + "` from the repository root (.ci/run does)");
        }
    }

    private static boolean nodeAvailable() {
        try {
            Process p = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(30, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** Runs the script with one JSON request; returns its JSON answer or throws with its stderr. */
    static JsonNode run(Object request) {
        try {
            Process process = new ProcessBuilder("node", "llamacpp.mjs", JSON.writeValueAsString(request))
                    .directory(scriptDir().toFile())
                    .start();
            CompletableFuture<String> stdout = drain(process.getInputStream());
            CompletableFuture<String> stderr = drain(process.getErrorStream());
            if (!process.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new IllegalStateException("llamacpp.mjs did not finish within " + TIMEOUT_SECONDS + " s");
            }
            if (process.exitValue() != 0) {
                throw new IllegalStateException("llamacpp.mjs failed (exit " + process.exitValue() + "):\n" + stderr.join());
            }
            return JSON.readTree(stdout.join());
        } catch (IOException e) {
            throw new IllegalStateException("running llamacpp.mjs failed", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running llamacpp.mjs", e);
        }
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
}
