package dev.medgemmafhir.engine.forge;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The forged tokenizer.json behaves like Gemma's through the Rust tokenizers the engine uses (DJL). */
class ForgedTokenizerTest {

    @TempDir
    static Path dir;
    private static ForgedModel model;
    private static SpecialTokens ids;
    private static HuggingFaceTokenizer withoutSpecials;

    @BeforeAll
    static void forge() throws IOException {
        model = ModelForge.forge(ForgeSpec.imageText(), dir);
        ids = model.specialTokens();
        withoutSpecials = HuggingFaceTokenizer.builder().optTokenizerPath(dir).optAddSpecialTokens(false).build();
    }

    @AfterAll
    static void close() {
        withoutSpecials.close();
    }

    private static long[] encode(String text) {
        return withoutSpecials.encode(text).getIds();
    }

    @Test
    void specialTokensAreSingleIdsAtForgedPositions() {
        long[] turn = encode("<start_of_turn>user\nHello<end_of_turn>\n");
        assertEquals(ids.startOfTurn(), turn[0]);
        assertTrue(Arrays.stream(turn).anyMatch(id -> id == ids.endOfTurn()));
        assertFalse(Arrays.stream(turn).anyMatch(id -> id == ids.bos()), "no <bos> unless asked");
        assertArrayEquals(new long[] {ids.bos(), ids.eos(), ids.pad()}, encode("<bos><eos><pad>"));

        // Apart from pad/eos/bos/unk, none sits at its real MedGemma id: engines must read ids from files.
        Set<Integer> real = Set.of(105, 106, 255999, 256000, 262144);
        for (int id : List.of(ids.startOfTurn(), ids.endOfTurn(), ids.startOfImage(), ids.endOfImage(), ids.imageSoftToken())) {
            assertFalse(real.contains(id), id + " is a real Gemma id");
        }
    }

    @Test
    void theImageTokenRunIsOneIdPerSoftToken() {
        String run = "\n\n<start_of_image>" + "<image_soft_token>".repeat(model.tokensPerImage()) + "<end_of_image>\n\n";
        long[] tokens = encode(run);
        long soft = Arrays.stream(tokens).filter(id -> id == ids.imageSoftToken()).count();
        assertEquals(model.tokensPerImage(), soft);
        assertEquals(model.tokensPerImage() + 4, tokens.length, "\\n\\n, boi, soft tokens, eoi, \\n\\n: " + Arrays.toString(tokens));
    }

    @Test
    void bytesOutsideTheVocabularyFallBackToByteTokens() {
        // é is U+00E9 = C3 A9 in UTF-8; byte token <0xNN> has id 4 + NN.
        assertArrayEquals(new long[] {4 + 0xC3, 4 + 0xA9}, encode("é"));
        assertEquals("é 38.5°C", withoutSpecials.decode(encode("é 38.5°C"), false));
    }

    @Test
    void spacesBecomeMetaspaceAndDecodeBack() {
        String text = "the patient was admitted with chest pain";
        String[] pieces = withoutSpecials.encode(text).getTokens();
        assertTrue(Arrays.stream(pieces).anyMatch(p -> p.startsWith(ForgedTokenizer.SPACE)), Arrays.toString(pieces));
        assertTrue(pieces.length < text.length() / 2, "merges should shorten common words: " + Arrays.toString(pieces));
        assertEquals(text, withoutSpecials.decode(encode(text), false));
    }

    @Test
    void addingSpecialTokensPrependsBos() throws IOException {
        try (HuggingFaceTokenizer defaults = HuggingFaceTokenizer.builder().optTokenizerPath(dir).optAddSpecialTokens(true).build()) {
            long[] tokens = defaults.encode("hello").getIds();
            assertEquals(ids.bos(), tokens[0]);
            assertArrayEquals(encode("hello"), Arrays.copyOfRange(tokens, 1, tokens.length));
        }
    }

    @Test
    void everyIdUpToTheLogitWidthHasExactlyOneToken() throws IOException {
        JsonNode vocab = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile()).path("model").path("vocab");
        assertEquals(model.vocabSize(), vocab.size());
        Set<Integer> seen = new HashSet<>();
        vocab.properties().forEach(e -> seen.add(e.getValue().asInt()));
        assertEquals(model.vocabSize(), seen.size());
        assertTrue(seen.contains(0) && seen.contains(model.vocabSize() - 1));
    }
}
