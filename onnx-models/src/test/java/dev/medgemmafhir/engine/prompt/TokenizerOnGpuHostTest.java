package dev.medgemmafhir.engine.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.util.cuda.CudaUtils;
import dev.medgemmafhir.engine.forge.ChildJvm;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;

import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On a host with a GPU the tokenizer still loads, from the CPU library in the jar, and nothing is
 * downloaded: an air-gapped GPU node is what this project is deployed on. A stand-in CUDA runtime,
 * compiled here, makes DJL see one GPU (DJL then picks a CUDA build of its tokenizer library and
 * downloads it); the child JVM's web proxy is a closed port on 127.0.0.1, so a download fails at once
 * and never leaves the machine.
 */
class TokenizerOnGpuHostTest {

    private static final String TEXT = "<start_of_turn>user\nSummarize the encounter.<end_of_turn>\n";

    @TempDir
    Path tmp;

    @Test
    void loadsTheBundledCpuLibraryWhenAGpuIsVisible() throws Exception {
        Path cuda = Files.createDirectories(tmp.resolve("cuda"));
        Path source = cuda.resolve("stand-in-cudart.c");
        try (InputStream in = getClass().getResourceAsStream("stand-in-cudart.c")) {
            Files.copy(in, source);
        }
        Process cc = new ProcessBuilder("cc", "-shared", "-fPIC", "-o", cuda.resolve("libcudart.so").toString(), source.toString())
                .redirectErrorStream(true).start();
        String ccOutput = new String(cc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, cc.waitFor(), "the stand-in CUDA runtime compiles:\n" + ccOutput);

        Path model = tmp.resolve("model");
        ModelForge.forge(ForgeSpec.textOnly(), model);
        int[] expected;
        try (PromptTokenizer tokenizer = PromptTokenizer.load(model)) {
            expected = tokenizer.encode(TEXT);
        }

        int closedPort;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = socket.getLocalPort();
        }
        ProcessBuilder child = ChildJvm.builder(Child.class, List.of(
                "-Djna.library.path=" + cuda,
                "-DDJL_CACHE_DIR=" + tmp.resolve("djl-cache"),
                "-Dhttp.proxyHost=127.0.0.1", "-Dhttp.proxyPort=" + closedPort,
                "-Dhttps.proxyHost=127.0.0.1", "-Dhttps.proxyPort=" + closedPort), model.toString());
        // DJL's own switches and caches, as an operator might have set them, are not the test's.
        child.environment().keySet().removeAll(List.of("RUST_FLAVOR", "DJL_OFFLINE", "RUST_LIBRARY_PATH", "DJL_CACHE_DIR", "ENGINE_CACHE_DIR"));
        ChildJvm.Result p = ChildJvm.run(child, 2);
        String output = p.output();
        assertTrue(p.finished(), "the child JVM finished");
        assertEquals(0, p.exitValue(), "the tokenizer loaded on the GPU host:\n" + output);

        String[] lines = output.strip().split("\n");
        String last = lines[lines.length - 1];
        assertTrue(last.startsWith("GPUS 1 IDS "), "DJL saw the stand-in GPU:\n" + output);
        assertEquals(Arrays.toString(expected).replace(", ", ","), last.substring("GPUS 1 IDS ".length()),
                "the same ids as on this host");
    }

    /** Prints {@code GPUS n IDS [...]}: the GPUs DJL sees, and the ids of {@link #TEXT} by the model in {@code args[0]}. */
    public static final class Child {
        public static void main(String[] args) {
            try {
                int gpus = CudaUtils.getGpuCount();
                try (PromptTokenizer tokenizer = PromptTokenizer.load(Path.of(args[0]))) {
                    System.out.println("GPUS " + gpus + " IDS " + Arrays.toString(tokenizer.encode(TEXT)).replace(", ", ","));
                }
            } catch (Throwable e) {
                e.printStackTrace(System.out);
                System.exit(1);
            }
        }
    }
}
