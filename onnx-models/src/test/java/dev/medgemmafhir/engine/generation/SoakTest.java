package dev.medgemmafhir.engine.generation;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.ChildJvm;
import dev.medgemmafhir.engine.forge.ForgeDims;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Many generations (text and image, finished and cancelled, concurrent) must not grow native
 * memory: every OnnxTensor and Result is closed. The KV cache here is ~0.5 MiB per generation, so
 * leaking the cache of each of 400 generations would add ~200 MiB, far above the bound.
 */
class SoakTest {

    @TempDir
    Path tmp;

    /**
     * Runs in a child JVM whose heap is fixed and pre-touched, so that resident memory changes only
     * with native allocations (ONNX Runtime tensors, the tokenizer) and not with heap growth.
     */
    @Test
    void manyGenerationsDoNotGrowNativeMemory() throws Exception {
        ForgeDims dims = ForgeDims.tiny().withAttention(4, 4, 32).withLayers(4);
        ForgedModel forged = ModelForge.forge(ForgeSpec.imageText().dims(dims).seed(3), tmp.resolve("soak"));
        ChildJvm.Result p = ChildJvm.run(ChildJvm.builder(Child.class,
                List.of("-Xms384m", "-Xmx384m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC"), forged.dir().toString()), 30);
        String out = p.output();
        assertTrue(p.finished() && p.exitValue() == 0, out);
        String result = out.lines().filter(l -> l.startsWith("rss ")).findFirst().orElseThrow(() -> new AssertionError(out));
        String[] kb = result.split(" ");
        long before = Long.parseLong(kb[1]);
        long after = Long.parseLong(kb[2]);
        System.out.printf("soak: resident memory %d MiB after warm-up, %d MiB after 400 more generations%n", before >> 10, after >> 10);
        assertTrue(after - before < 64 * 1024, "resident memory grew by " + ((after - before) >> 10) + " MiB over 400 generations");
    }

    /** The child JVM: warm up, measure, run 400 generations, measure. Prints {@code rss BEFORE_KB AFTER_KB}. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            ModelForgeFree.run(Path.of(args[0]));
        }
    }

    private static final class ModelForgeFree {
        static void run(Path dir) throws Exception {
            byte[] image = png(32);
            try (MedGemmaModel model = MedGemmaModel.load(dir)) {
                ExecutorService pool = Executors.newFixedThreadPool(3);
                try {
                    round(model, pool, image, 100);
                    long before = rssKb();
                    round(model, pool, image, 400);
                    long after = rssKb();
                    System.out.println("rss " + before + " " + after);
                } finally {
                    pool.shutdownNow();
                }
            }
        }
    }

    private static void round(MedGemmaModel model, ExecutorService pool, byte[] image, int n) throws Exception {
        List<Future<?>> futures = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            int k = i;
            futures.add(pool.submit(() -> {
                GenerationParams p = GenerationParams.greedy(40 + k % 20);
                GenerationRequest req = k % 3 == 0
                        ? new GenerationRequest(List.of(ChatMessage.user(new ContentPart.Image(image), new ContentPart.Text("Findings " + k))), p)
                        : GenerationRequest.of("System " + k, "Note " + k, p);
                Cancellation c = Cancellation.create();
                if (k % 5 == 0) {
                    model.generate(req, delta -> c.cancel(), c);
                } else {
                    model.generate(req, delta -> { }, c);
                }
                return null;
            }));
        }
        for (Future<?> f : futures) {
            f.get();
        }
    }

    private static long rssKb() throws IOException {
        System.gc();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    private static byte[] png(int size) throws IOException {
        BufferedImage img = new BufferedImage(size, size, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                img.getRaster().setSample(x, y, 0, (x * 7 + y * 3) & 0xFF);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }
}
