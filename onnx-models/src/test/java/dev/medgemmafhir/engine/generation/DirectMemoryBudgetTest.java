package dev.medgemmafhir.engine.generation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.bench.Roofline;
import dev.medgemmafhir.engine.forge.ChildJvm;
import dev.medgemmafhir.engine.forge.ForgeDims;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model whose KV-cache budget is not configured keeps its batch within the JVM's direct memory, where the cache lives:
 * concurrent generations that would together exceed it take turns instead of failing. Run in a JVM of its own with a
 * small {@code -XX:MaxDirectMemorySize}: room for three sequences' caches, four asking at once (with no budget, as
 * before, the fourth to join made the JVM refuse a direct buffer and failed every sequence in the batch).
 */
class DirectMemoryBudgetTest {

    static final int NEW_TOKENS = 16;
    static final int CALLERS = 4;

    @TempDir
    Path tmp;

    static GenerationRequest longRequest() {
        return GenerationRequest.of("You are a clinical assistant.", "Summarise. " + "The patient is stable today. ".repeat(50),
                GenerationParams.greedy(NEW_TOKENS));
    }

    static RuntimeOptions options() {
        // Small prefill runs: the prefill logits (not the cache) would otherwise dominate this model's direct memory.
        return RuntimeOptions.defaults().withMaxBatch(CALLERS).withPrefillChunkTokens(64);
    }

    @Test
    void concurrentGenerationsTakeTurnsWithinTheJvmsDirectMemory() throws Exception {
        Path dir = tmp.resolve("model");
        ModelForge.forge(ForgeSpec.textOnly().dims(ForgeDims.tiny().withLayers(8)).seed(31), dir);
        long oneSequence;
        int[] expected;
        try (MedGemmaModel model = MedGemmaModel.load(dir, null, options().withMaxBatch(1))) {
            int finalLength = model.countPromptTokens(longRequest()) + NEW_TOKENS;
            // Past and present buffers of one sequence at its final length.
            oneSequence = 2L * finalLength * Roofline.kvBytesPerToken(model.decoderSignature());
            expected = model.generate(longRequest()).generatedTokenIds();
        }
        long limit = 3 * oneSequence;

        ChildJvm.Result child = ChildJvm.run(ChildJvm.builder(Child.class, List.of("-XX:MaxDirectMemorySize=" + limit), dir.toString()), 5);
        String output = child.output();
        assertTrue(child.finished(), "the child JVM finished");
        assertEquals(0, child.exitValue(), "every generation succeeded within " + limit + " bytes of direct memory:\n" + output);

        String[] lines = output.strip().split("\n");
        String last = lines[lines.length - 1];
        assertTrue(last.startsWith("OK "), output);
        String[] fields = last.split(" ");
        long peak = Long.parseLong(fields[1]);
        assertTrue(peak > 0 && peak <= limit / 2, "peak KV cache " + peak + " within the default budget " + limit / 2);
        for (int i = 2; i < fields.length; i++) {
            assertEquals(Arrays.toString(expected), fields[i].replace(",", ", "),
                    "generation " + (i - 2) + " gave the tokens it gives alone");
        }
        assertEquals(2 + CALLERS, fields.length, output);
    }

    /** Runs {@link #CALLERS} generations at once on the model in {@code args[0]}; prints {@code OK peak tokens...}. */
    public static final class Child {
        public static void main(String[] args) throws Exception {
            try (MedGemmaModel model = MedGemmaModel.load(Path.of(args[0]), null, options())) {
                ExecutorService pool = Executors.newFixedThreadPool(CALLERS);
                List<Future<GenerationResult>> calls = new ArrayList<>();
                for (int i = 0; i < CALLERS; i++) {
                    calls.add(pool.submit(() -> model.generate(longRequest())));
                }
                StringBuilder tokens = new StringBuilder();
                for (Future<GenerationResult> call : calls) {
                    tokens.append(' ').append(Arrays.toString(call.get(4, TimeUnit.MINUTES).generatedTokenIds()).replace(", ", ","));
                }
                pool.shutdownNow();
                System.out.println("OK " + model.peakKvCacheBytes() + tokens);
            } catch (Throwable e) {
                e.printStackTrace(System.out);
                System.exit(1);
            }
        }
    }
}
