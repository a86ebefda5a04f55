package dev.medgemmafhir.engine.forge;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.medgemmafhir.engine.forge.TransformersJsReference.message;
import static dev.medgemmafhir.engine.forge.TransformersJsReference.userImageAndText;
import static dev.medgemmafhir.engine.forge.WeightVariant.FP32;
import static dev.medgemmafhir.engine.forge.WeightVariant.Q4;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * transformers.js loads forged directories through its real model classes (AutoModelForCausalLM,
 * Gemma3ForConditionalGeneration) and decodes them, renders their chat template and tokenizes
 * like the Rust tokenizers. Needs the npm packages: see {@link TransformersJsReference}.
 */
class TransformersJsReferenceTest {

    private static final int MAX_NEW_TOKENS = 10;

    @TempDir
    static Path dir;

    @BeforeAll
    static void requireReference() {
        TransformersJsReference.requireInstalled();
    }

    @Test
    void textOnlyModelRendersTokenizesAndDecodesLikeOnnxRuntimeJava() throws Exception {
        ForgedModel model = ModelForge.forge(ForgeSpec.textOnly().variants(FP32, Q4), dir.resolve("text"));
        List<Map<String, Object>> messages = List.of(
                message("system", "You are a helpful medical assistant."),
                message("user", "  Summarize the encounter: chest pain, 38.5°C.  "));
        TransformersJsReference.Result fp32 = TransformersJsReference.run(
                TransformersJsReference.Request.chat(model.dir(), "fp32", messages, MAX_NEW_TOKENS).withTexts(List.of("the patient\n\nwas")));

        assertEquals("<bos><start_of_turn>user\nYou are a helpful medical assistant.\n\n"
                + "Summarize the encounter: chest pain, 38.5°C.<end_of_turn>\n<start_of_turn>model\n", fp32.promptTextViaChatTemplate());
        try (HuggingFaceTokenizer rust = HuggingFaceTokenizer.builder().optTokenizerPath(model.dir()).optAddSpecialTokens(false).build()) {
            assertEquals(ids(rust.encode(fp32.promptTextViaChatTemplate()).getIds()), fp32.promptTokenIdsViaChatTemplate(),
                    "transformers.js and the Rust tokenizers split the forged vocabulary differently");
            assertEquals(ids(rust.encode("the patient\n\nwas").getIds()), fp32.tokenizedTexts().get(0));
        }
        assertEquals(model.specialTokens().bos(), fp32.promptTokenIds().get(0), "exactly one <bos>, from the template");
        assertEquals(model.specialTokens().startOfTurn(), fp32.promptTokenIds().get(1));

        // The forged graph is a deterministic program: the same greedy ids from both runtimes.
        List<Integer> expected;
        try (DecoderProbe probe = new DecoderProbe(model.decoderFile(FP32), model.dims())) {
            expected = untilEos(probe.greedy(longs(fp32.promptTokenIds()), MAX_NEW_TOKENS), model.specialTokens());
        }
        assertEquals(expected, fp32.generatedTokenIds());

        TransformersJsReference.Result q4 = TransformersJsReference.run(
                TransformersJsReference.Request.greedy(model.dir(), "q4", fp32.promptTokenIds(), MAX_NEW_TOKENS));
        assertGeneratedTokens(model, q4);
    }

    @Test
    void imageTextModelExpandsTheImageAndDecodesEachVariant() throws IOException {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText().variants(FP32, Q4), dir.resolve("image"));
        Path image = dir.resolve("chest.png");
        writeGradient(image, 40, 30);
        SpecialTokens t = model.specialTokens();
        for (WeightVariant variant : List.of(FP32, Q4)) {
            TransformersJsReference.Result result = TransformersJsReference.run(TransformersJsReference.Request
                    .chat(model.dir(), variant.dtype(), List.of(userImageAndText("Describe this image.")), MAX_NEW_TOKENS)
                    .withImages(List.of(image)));
            assertEquals("<bos><start_of_turn>user\n<start_of_image>Describe this image.<end_of_turn>\n<start_of_turn>model\n",
                    result.promptTextViaChatTemplate());
            List<Integer> prompt = result.promptTokenIds();
            int boi = prompt.indexOf(t.startOfImage());
            assertTrue(boi > 0, "no <start_of_image> in " + prompt);
            for (int i = 1; i <= model.tokensPerImage(); i++) {
                assertEquals(t.imageSoftToken(), prompt.get(boi + i), "image token run at " + (boi + i));
            }
            assertEquals(t.endOfImage(), prompt.get(boi + model.tokensPerImage() + 1));
            assertEquals(1, prompt.stream().filter(id -> id == t.bos()).count(), "a second <bos> crept in");
            assertGeneratedTokens(model, result);
        }
    }

    @Test
    void imageChangesTheReferenceContinuation() throws IOException {
        ForgedModel model = ModelForge.forge(ForgeSpec.imageText(), dir.resolve("image-effect"));
        Path gradient = dir.resolve("gradient.png");
        Path flat = dir.resolve("flat.png");
        writeGradient(gradient, 32, 32);
        writeFlat(flat, 32, 32);
        List<Map<String, Object>> messages = List.of(userImageAndText("What is the diagnosis?"));
        List<Integer> a = TransformersJsReference.run(TransformersJsReference.Request.chat(model.dir(), "fp32", messages, MAX_NEW_TOKENS)
                .withImages(List.of(gradient))).generatedTokenIds();
        List<Integer> b = TransformersJsReference.run(TransformersJsReference.Request.chat(model.dir(), "fp32", messages, MAX_NEW_TOKENS)
                .withImages(List.of(flat))).generatedTokenIds();
        assertFalse(a.equals(b), "the vision encoder's features do not reach the decoder: " + a);
    }

    private static void assertGeneratedTokens(ForgedModel model, TransformersJsReference.Result result) {
        List<Integer> generated = result.generatedTokenIds();
        assertFalse(generated.isEmpty());
        assertTrue(generated.size() <= MAX_NEW_TOKENS);
        for (int id : generated) {
            assertTrue(id >= 0 && id < model.vocabSize(), "token id out of range: " + id);
        }
        if (generated.size() < MAX_NEW_TOKENS) {
            assertTrue(model.specialTokens().eosTokenIds().contains(generated.get(generated.size() - 1)),
                    "stopped early without an eos id: " + generated);
        }
    }

    private static List<Integer> untilEos(List<Integer> tokens, SpecialTokens t) {
        List<Integer> out = new ArrayList<>();
        for (int id : tokens) {
            out.add(id);
            if (t.eosTokenIds().contains(id)) {
                break;
            }
        }
        return out;
    }

    private static List<Integer> ids(long[] values) {
        return Arrays.stream(values).mapToObj(v -> (int) v).toList();
    }

    private static long[] longs(List<Integer> values) {
        return values.stream().mapToLong(Integer::longValue).toArray();
    }

    private static void writeGradient(Path file, int width, int height) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, (x * 255 / width) << 16 | (y * 255 / height) << 8 | ((x + y) * 4 & 0xFF));
            }
        }
        ImageIO.write(image, "png", file.toFile());
    }

    private static void writeFlat(Path file, int width, int height) throws IOException {
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                image.setRGB(x, y, 0x808080);
            }
        }
        ImageIO.write(image, "png", file.toFile());
    }
}
