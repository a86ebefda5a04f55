package dev.medgemmafhir.engine.generation;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Decoding behaviour on forged models: limits, stops, streaming, chunked prefill, concurrency, cancellation. */
class GenerationTest {

    @TempDir
    static Path tmp;

    static ForgedModel forged;
    static MedGemmaModel model;

    @BeforeAll
    static void load() {
        forged = ModelForge.forge(ForgeSpec.textOnly().seed(21), tmp.resolve("text"));
        model = MedGemmaModel.load(forged.dir());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static GenerationRequest ask(String text, GenerationParams params) {
        return GenerationRequest.of("You are a clinical assistant.", text, params);
    }

    @Test
    void stopsAtTheTokenLimitAndStreamsExactlyTheText() {
        StringBuilder streamed = new StringBuilder();
        GenerationResult r = model.generate(ask("Summarise the stay.", GenerationParams.greedy(30)), streamed::append, Cancellation.none());
        assertEquals(StopReason.MAX_NEW_TOKENS, r.stopReason());
        assertEquals(30, r.generatedTokenIds().length);
        assertEquals(r.text(), streamed.toString());
        String whole = model.tokenizer().decode(r.generatedTokenIds(), true);
        if (whole.indexOf('\uFFFD') < 0) {
            // Random weights may emit invalid byte runs, which a whole-sequence decode and a stream render differently.
            assertEquals(whole, r.text());
        }
        assertEquals(model.countTokens(model.renderPrompt(ask("Summarise the stay.", GenerationParams.greedy(1)).messages())),
                r.promptTokenIds().length);
        assertEquals(r.promptTokenIds().length, model.countPromptTokens(ask("Summarise the stay.", GenerationParams.greedy(1))));
        assertTrue(r.prefillMillis() > 0 && r.decodeMillis() > 0 && r.decodeTokensPerSecond() > 0);
    }

    @Test
    void multiByteCharactersSplitOverByteFallbackTokensStreamWhole() {
        String text = "naïve ✓ Müller 37 °C 肺";
        int[] ids = model.tokenizer().encode(text);
        assertTrue(ids.length > text.codePointCount(0, text.length()) / 2, "expected byte-fallback pieces");
        dev.medgemmafhir.engine.prompt.StreamingDetokenizer d = new dev.medgemmafhir.engine.prompt.StreamingDetokenizer(model.tokenizer());
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            String delta = d.push(id);
            assertFalse(delta.contains("\uFFFD"), "half a character was emitted");
            out.append(delta);
        }
        out.append(d.flush());
        assertEquals(text, out.toString());
    }

    @Test
    void greedyIsDeterministicAndChunkedPrefillGivesTheSameTokens() {
        GenerationRequest req = ask("A long enough prompt to be cut into several prefill chunks of three tokens each.", GenerationParams.greedy(20));
        GenerationResult whole = model.generate(req);
        assertArrayEquals(whole.generatedTokenIds(), model.generate(req).generatedTokenIds());
        try (MedGemmaModel chunked = MedGemmaModel.load(forged.dir(), null, RuntimeOptions.defaults().withPrefillChunkTokens(3))) {
            assertArrayEquals(whole.generatedTokenIds(), chunked.generate(req).generatedTokenIds());
        }
        // A logits budget of a few rows forces chunking the way a 262k vocabulary would.
        try (MedGemmaModel budget = MedGemmaModel.load(forged.dir(), null, RuntimeOptions.defaults().withLogitsBudgetBytes(4L * forged.vocabSize() * 5))) {
            assertArrayEquals(whole.generatedTokenIds(), budget.generate(req).generatedTokenIds());
        }
    }

    @Test
    void stopsOnAnEosIdFromTheConfigs() throws IOException {
        GenerationRequest req = ask("Tell me more.", GenerationParams.greedy(20));
        int[] free = model.generate(req).generatedTokenIds();
        // Pick a token the model emits but not earlier, and declare it an eos id.
        int at = 3;
        while (contains(free, at, free[at])) {
            at++;
        }
        Path dir = tmp.resolve("eos");
        ModelForge.forge(ForgeSpec.textOnly().seed(21), dir);
        ObjectMapper json = new ObjectMapper();
        ObjectNode gen = (ObjectNode) json.readTree(dir.resolve("generation_config.json").toFile());
        gen.putArray("eos_token_id").add(forged.specialTokens().eos()).add(free[at]);
        json.writeValue(dir.resolve("generation_config.json").toFile(), gen);
        try (MedGemmaModel m = MedGemmaModel.load(dir)) {
            GenerationResult r = m.generate(req);
            assertEquals(StopReason.END_OF_SEQUENCE, r.stopReason());
            assertArrayEquals(Arrays.copyOf(free, at + 1), r.generatedTokenIds());
            assertEquals(m.tokenizer().decode(Arrays.copyOf(free, at), true), r.text());
        }
    }

    @Test
    void stopsOnAStopStringWithoutEmittingIt() {
        GenerationResult free = model.generate(ask("Go on.", GenerationParams.greedy(30)));
        String text = free.text();
        String stop = text.substring(text.length() / 2, text.length() / 2 + 2);
        int cut = text.indexOf(stop);
        StringBuilder streamed = new StringBuilder();
        GenerationResult r = model.generate(ask("Go on.", GenerationParams.greedy(30).withStopStrings(List.of(stop))), streamed::append,
                Cancellation.none());
        assertEquals(StopReason.STOP_STRING, r.stopReason());
        assertEquals(text.substring(0, cut), r.text());
        assertEquals(r.text(), streamed.toString());
        assertTrue(r.generatedTokenIds().length < 30);
    }

    @Test
    void theContextLimitIsRespected() {
        ForgedModel small = ModelForge.forge(ForgeSpec.textOnly().dims(ForgeSpec.textOnly().dims().withMaxPositions(40)), tmp.resolve("small"));
        try (MedGemmaModel m = MedGemmaModel.load(small.dir())) {
            GenerationRequest req = GenerationRequest.of(null, "Hi", GenerationParams.greedy(100));
            int prompt = m.countPromptTokens(req);
            GenerationResult r = m.generate(req);
            assertEquals(StopReason.CONTEXT_FULL, r.stopReason());
            assertEquals(40 - prompt, r.generatedTokenIds().length);
            InvalidInputException e = assertThrows(InvalidInputException.class,
                    () -> m.generate(GenerationRequest.of(null, "word ".repeat(60), GenerationParams.greedy(5))));
            assertTrue(e.getMessage().contains("context holds 40"), e.getMessage());
        }
    }

    @Test
    void seededSamplingIsReproducible() {
        GenerationParams p = GenerationParams.greedy(25).withSampling(1.0, 0, 1.0, 99);
        GenerationResult a = model.generate(ask("Sample.", p));
        GenerationResult b = model.generate(ask("Sample.", p));
        assertArrayEquals(a.generatedTokenIds(), b.generatedTokenIds());
        GenerationResult c = model.generate(ask("Sample.", GenerationParams.greedy(25).withSampling(1.0, 0, 1.0, 100)));
        assertFalse(Arrays.equals(a.generatedTokenIds(), c.generatedTokenIds()));
        GenerationResult penalised = model.generate(ask("Sample.", GenerationParams.greedy(25).withRepetitionPenalty(5.0)));
        assertNotEquals(Arrays.toString(model.generate(ask("Sample.", GenerationParams.greedy(25))).generatedTokenIds()),
                Arrays.toString(penalised.generatedTokenIds()));
    }

    @Test
    void concurrentGenerationsGiveTheSameTokensAsSequentialOnes() throws Exception {
        List<GenerationRequest> requests = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            requests.add(ask("Patient " + i + " has a cough.", GenerationParams.greedy(16 + i)));
        }
        List<int[]> sequential = new ArrayList<>();
        for (GenerationRequest r : requests) {
            sequential.add(model.generate(r).generatedTokenIds());
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 3; round++) {
                List<Future<GenerationResult>> futures = new ArrayList<>();
                for (GenerationRequest r : requests) {
                    futures.add(pool.submit(() -> model.generate(r)));
                }
                for (int i = 0; i < requests.size(); i++) {
                    assertArrayEquals(sequential.get(i), futures.get(i).get(60, TimeUnit.SECONDS).generatedTokenIds(), "request " + i);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void cancellationFromAnotherThreadStopsWithinAStep() throws Exception {
        Cancellation cancel = Cancellation.create();
        CountDownLatch firstText = new CountDownLatch(1);
        AtomicInteger deltasAfterCancel = new AtomicInteger();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<GenerationResult> f = pool.submit(() -> model.generate(ask("Keep going.", GenerationParams.greedy(900)), delta -> {
                if (cancel.isCancelled()) {
                    deltasAfterCancel.incrementAndGet();
                }
                firstText.countDown();
                sleep(2);
            }, cancel));
            assertTrue(firstText.await(30, TimeUnit.SECONDS));
            cancel.cancel();
            GenerationResult r = f.get(30, TimeUnit.SECONDS);
            assertEquals(StopReason.CANCELLED, r.stopReason());
            assertTrue(r.generatedTokenIds().length < 900);
            assertTrue(deltasAfterCancel.get() <= 1, "text after cancel: " + deltasAfterCancel.get());
        } finally {
            pool.shutdownNow();
        }
        Cancellation early = Cancellation.create();
        early.cancel();
        GenerationResult none = model.generate(ask("Never mind.", GenerationParams.greedy(10)), d -> { }, early);
        assertEquals(StopReason.CANCELLED, none.stopReason());
        assertEquals(0, none.generatedTokenIds().length);
        // The model keeps serving after cancellations.
        assertEquals(3, model.generate(ask("Again.", GenerationParams.greedy(3))).generatedTokenIds().length);
    }

    @Test
    void imagesAreRefusedByATextModelAndBadImagesByAnImageModel() {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> model.generate(new GenerationRequest(
                List.of(ChatMessage.user(new ContentPart.Image(new byte[] {1, 2, 3}), new ContentPart.Text("x"))), GenerationParams.greedy(3))));
        assertTrue(e.getMessage().contains("takes no images"), e.getMessage());
        ForgedModel image = ModelForge.forge(ForgeSpec.imageText(), tmp.resolve("image"));
        try (MedGemmaModel m = MedGemmaModel.load(image.dir())) {
            InvalidInputException bad = assertThrows(InvalidInputException.class, () -> m.generate(new GenerationRequest(
                    List.of(ChatMessage.user(new ContentPart.Image("not an image".getBytes()), new ContentPart.Text("x"))), GenerationParams.greedy(3))));
            assertTrue(bad.getMessage().contains("not a PNG or JPEG"), bad.getMessage());
            // Image token strings typed into the text would not line up with the images.
            assertThrows(InvalidInputException.class, () -> m.generate(GenerationRequest.of(null, "<image_soft_token>", GenerationParams.greedy(3))));
        }
    }

    private static boolean contains(int[] ids, int before, int id) {
        for (int i = 0; i < before; i++) {
            if (ids[i] == id) {
                return true;
            }
        }
        return false;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
