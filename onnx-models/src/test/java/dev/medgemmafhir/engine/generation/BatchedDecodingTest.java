package dev.medgemmafhir.engine.generation;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.bench.Roofline;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Concurrent generations on one model share decode steps, and each gets what it would alone: the
 * same model loaded twice, once decoding every generation alone ({@code maxBatch 1}), once batched.
 */
class BatchedDecodingTest {

    @TempDir
    static Path tmp;

    static ForgedModel forged;
    static MedGemmaModel alone;
    static MedGemmaModel batched;

    @BeforeAll
    static void load() {
        forged = ModelForge.forge(ForgeSpec.textOnly().seed(77), tmp.resolve("text"));
        alone = MedGemmaModel.load(forged.dir(), null, RuntimeOptions.defaults().withMaxBatch(1));
        batched = MedGemmaModel.load(forged.dir(), null, RuntimeOptions.defaults().withMaxBatch(4));
    }

    @AfterAll
    static void close() {
        alone.close();
        batched.close();
    }

    private static GenerationRequest ask(String text, GenerationParams params) {
        return GenerationRequest.of("You are a clinical assistant.", text, params);
    }

    /** Prompts of different lengths with different token limits, so sequences of different lengths leave at different steps. */
    private static List<GenerationRequest> mixedRequests() {
        String[] texts = {
            "Hi.",
            "Summarise the admission of a 67-year-old man with community-acquired pneumonia on two litres of oxygen.",
            "Fever.",
            "List the medications: ceftriaxone, azithromycin, enoxaparin, paracetamol as needed, and the home inhaler.",
            "Any allergies?",
            "Write the discharge summary for the cardiology team, covering the echocardiogram, the troponin trend and the plan.",
        };
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            requests.add(ask(texts[i], GenerationParams.greedy(12 + 9 * i)));
        }
        return requests;
    }

    @Test
    void greedyRequestsGiveTheSameTokensAndTextBatchedAsAloneWhileOthersJoinAndLeave() throws Exception {
        List<GenerationRequest> requests = mixedRequests();
        List<GenerationResult> expected = new ArrayList<>();
        for (GenerationRequest r : requests) {
            expected.add(alone.generate(r));
        }
        long[] before = batched.batchStatistics()[0].clone();
        ExecutorService pool = Executors.newFixedThreadPool(requests.size());
        try {
            // Three start together; the other three join once the first has streamed text, i.e. mid-flight.
            // The first then holds the batch (a step waits for every member's token) until a late one has
            // prefilled, so on however loaded a machine the early three are still decoding when it joins.
            CountDownLatch firstIsDecoding = new CountDownLatch(3);
            CountDownLatch aLateOneHasPrefilled = new CountDownLatch(1);
            List<Future<GenerationResult>> futures = new ArrayList<>();
            List<StringBuilder> streamed = new ArrayList<>();
            for (int i = 0; i < requests.size(); i++) {
                GenerationRequest r = requests.get(i);
                StringBuilder text = new StringBuilder();
                streamed.add(text);
                boolean late = i >= 3;
                boolean first = i == 0;
                futures.add(pool.submit(() -> {
                    if (late) {
                        firstIsDecoding.await(60, TimeUnit.SECONDS);
                    }
                    return batched.generate(r, delta -> {
                        text.append(delta);
                        if (late) {
                            aLateOneHasPrefilled.countDown();
                        }
                        if (first && firstIsDecoding.getCount() > 0) {
                            firstIsDecoding.countDown();
                            if (firstIsDecoding.getCount() == 0) {
                                awaitQuietly(aLateOneHasPrefilled);
                            }
                        }
                    }, Cancellation.none());
                }));
            }
            for (int i = 0; i < requests.size(); i++) {
                GenerationResult got = futures.get(i).get(120, TimeUnit.SECONDS);
                assertArrayEquals(expected.get(i).generatedTokenIds(), got.generatedTokenIds(), "request " + i);
                assertEquals(expected.get(i).text(), got.text(), "request " + i);
                assertEquals(got.text(), streamed.get(i).toString(), "request " + i);
                assertEquals(StopReason.MAX_NEW_TOKENS, got.stopReason());
            }
        } finally {
            pool.shutdownNow();
        }
        long[] steps = batched.batchStatistics()[0];
        long shared = 0;
        for (int rows = 2; rows < steps.length; rows++) {
            shared += steps[rows] - (rows < before.length ? before[rows] : 0);
        }
        assertTrue(shared > 0, "no decode step ran more than one sequence: " + Arrays.toString(steps));
        assertTrue(steps[4] > (before.length > 4 ? before[4] : 0), "the batch never filled its 4 rows: " + Arrays.toString(steps));
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Test
    void seededSamplingAndStopStringsStayPerRequest() throws Exception {
        GenerationResult free = alone.generate(ask("Go on.", GenerationParams.greedy(30)));
        String stop = free.text().substring(free.text().length() / 2, free.text().length() / 2 + 2);
        List<GenerationRequest> requests = List.of(
                ask("Go on.", GenerationParams.greedy(30).withStopStrings(List.of(stop))),
                ask("Sample a plan.", GenerationParams.greedy(25).withSampling(1.0, 0, 1.0, 99)),
                ask("Sample a plan.", GenerationParams.greedy(25).withSampling(1.0, 0, 1.0, 100)),
                ask("Repeat less.", GenerationParams.greedy(25).withRepetitionPenalty(5.0)));
        List<GenerationResult> expected = new ArrayList<>();
        for (GenerationRequest r : requests) {
            expected.add(alone.generate(r));
        }
        assertEquals(StopReason.STOP_STRING, expected.get(0).stopReason());
        ExecutorService pool = Executors.newFixedThreadPool(requests.size());
        try {
            List<Future<GenerationResult>> futures = new ArrayList<>();
            for (GenerationRequest r : requests) {
                futures.add(pool.submit(() -> batched.generate(r)));
            }
            for (int i = 0; i < requests.size(); i++) {
                GenerationResult got = futures.get(i).get(120, TimeUnit.SECONDS);
                assertArrayEquals(expected.get(i).generatedTokenIds(), got.generatedTokenIds(), "request " + i);
                assertEquals(expected.get(i).text(), got.text(), "request " + i);
                assertEquals(expected.get(i).stopReason(), got.stopReason(), "request " + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aCancelledGenerationLeavesAndTheOthersFinishUnchanged() throws Exception {
        GenerationRequest longOne = ask("Keep going about the ward round.", GenerationParams.greedy(300));
        GenerationRequest a = ask("Summarise.", GenerationParams.greedy(60));
        GenerationRequest b = ask("Summarise the plan for tomorrow in detail.", GenerationParams.greedy(80));
        int[] longAlone = alone.generate(longOne).generatedTokenIds();
        int[] aAlone = alone.generate(a).generatedTokenIds();
        int[] bAlone = alone.generate(b).generatedTokenIds();
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            Cancellation cancel = Cancellation.create();
            CountDownLatch decoding = new CountDownLatch(5);
            Future<GenerationResult> cancelled = pool.submit(() -> batched.generate(longOne, d -> decoding.countDown(), cancel));
            Future<GenerationResult> fa = pool.submit(() -> batched.generate(a));
            Future<GenerationResult> fb = pool.submit(() -> batched.generate(b));
            assertTrue(decoding.await(60, TimeUnit.SECONDS));
            cancel.cancel();
            GenerationResult c = cancelled.get(60, TimeUnit.SECONDS);
            assertEquals(StopReason.CANCELLED, c.stopReason());
            assertTrue(c.generatedTokenIds().length < longAlone.length);
            assertArrayEquals(Arrays.copyOf(longAlone, c.generatedTokenIds().length), c.generatedTokenIds());
            assertArrayEquals(aAlone, fa.get(60, TimeUnit.SECONDS).generatedTokenIds());
            assertArrayEquals(bAlone, fb.get(60, TimeUnit.SECONDS).generatedTokenIds());
        } finally {
            pool.shutdownNow();
        }
        // The batch keeps serving after a member left.
        assertArrayEquals(aAlone, batched.generate(a).generatedTokenIds());
    }

    @Test
    void promptsArrivingTogetherAreReadEarliestFirstWhileTheBatchStreamsBetweenTheirRuns() throws Exception {
        GenerationRequest r = ask("Summarise the admission: pneumonia on two litres of oxygen, ceftriaxone and azithromycin,"
                + " a troponin that stayed flat, an echocardiogram with normal function, and a plan for discharge on Friday.",
                GenerationParams.greedy(24));
        int[] expected = alone.generate(r).generatedTokenIds();
        // Runs of 4 prompt tokens: each prompt takes well over ten runs.
        try (MedGemmaModel chunked = MedGemmaModel.load(forged.dir(), null,
                RuntimeOptions.defaults().withMaxBatch(4).withPrefillChunkTokens(4))) {
            assertTrue(chunked.countPromptTokens(r) > 40, "prompt too short to take many runs");
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                CountDownLatch go = new CountDownLatch(1);
                long[] submitted = new long[2];
                List<List<Long>> pieces = List.of(new CopyOnWriteArrayList<>(), new CopyOnWriteArrayList<>());
                List<Future<GenerationResult>> futures = new ArrayList<>();
                for (int i = 0; i < 2; i++) {
                    int caller = i;
                    futures.add(pool.submit(() -> {
                        go.await();
                        submitted[caller] = System.nanoTime();
                        return chunked.generate(r, delta -> pieces.get(caller).add(System.nanoTime()), Cancellation.none());
                    }));
                }
                go.countDown();
                GenerationResult[] got = new GenerationResult[2];
                for (int i = 0; i < 2; i++) {
                    got[i] = futures.get(i).get(120, TimeUnit.SECONDS);
                    assertArrayEquals(expected, got[i].generatedTokenIds(), "caller " + i);
                }
                // The prompt read first streams text (its own prefill, then a step between each two of the other's runs)
                // while the other prompt is read: before the other's first token, which comes no earlier than its
                // submission + its prefill time. A fair lock alternated the two prompts' runs, so the first had its
                // first token one run before the other and no step ran until both were read.
                int early = pieces.get(0).get(0) < pieces.get(1).get(0) ? 0 : 1;
                int late = 1 - early;
                long lateFirstToken = submitted[late] + (long) (got[late].prefillMillis() * 1e6);
                long streamedBefore = pieces.get(early).stream().filter(t -> t < lateFirstToken).count();
                assertTrue(streamedBefore >= 3, streamedBefore + " pieces of text before the other prompt was read");
            } finally {
                pool.shutdownNow();
            }
            assertTrue(chunked.batchStatistics()[0][1] >= 3, "no step ran alone while the other prompt was read");
        }
    }

    @Test
    void theKvCacheBudgetMakesRequestsWaitAndRefusesOneThatCannotFit() throws Exception {
        GenerationRequest r = ask("Summarise the stay.", GenerationParams.greedy(20));
        int finalLength = alone.countPromptTokens(r) + 20;
        long perToken = Roofline.kvBytesPerToken(alone.decoderSignature());
        // Room for one such sequence (past and present buffers), not two.
        long budget = 2 * finalLength * perToken + perToken;
        try (MedGemmaModel tight = MedGemmaModel.load(forged.dir(), null,
                RuntimeOptions.defaults().withMaxBatch(4).withKvCacheBudgetBytes(budget))) {
            int[] expected = alone.generate(r).generatedTokenIds();
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<GenerationResult>> futures = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    futures.add(pool.submit(() -> tight.generate(r)));
                }
                for (Future<GenerationResult> f : futures) {
                    assertArrayEquals(expected, f.get(120, TimeUnit.SECONDS).generatedTokenIds());
                }
            } finally {
                pool.shutdownNow();
            }
            long[] steps = tight.batchStatistics()[0];
            assertTrue(steps[1] >= 3 * 19, Arrays.toString(steps));
            for (int rows = 2; rows < steps.length; rows++) {
                assertEquals(0, steps[rows], "two sequences shared a step beyond the budget: " + Arrays.toString(steps));
            }
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> tight.generate(ask("Summarise the stay.", GenerationParams.greedy(40))));
            assertTrue(e.getMessage().contains("KV-cache budget of " + budget + " bytes"), e.getMessage());
        }
    }
}
