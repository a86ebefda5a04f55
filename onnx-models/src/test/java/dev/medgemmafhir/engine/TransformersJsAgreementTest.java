package dev.medgemmafhir.engine;

import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.TransformersJsReference;
import dev.medgemmafhir.engine.forge.WeightVariant;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The acceptance test: on forged models, the engine's greedy token ids equal transformers.js's,
 * token for token, and so do the prompt ids (the engine renders Gemma's chat format natively; the
 * reference evaluates the directory's own Jinja chat template and Gemma3Processor's image expansion).
 */
class TransformersJsAgreementTest {

    private static final int NEW_TOKENS = 24;

    /** Several prompts: with and without a system message, multi-turn, whitespace to trim, non-ASCII text. */
    private static final List<List<ChatMessage>> CONVERSATIONS = List.of(
            List.of(ChatMessage.user("Hello there")),
            List.of(ChatMessage.system("You are a careful clinical assistant."), ChatMessage.user("  Summarise: BP 142/91, HR 88.\n")),
            List.of(ChatMessage.user("What is the dose?"), ChatMessage.assistant("Which drug?"), ChatMessage.user("Amoxicillin, 500 mg")),
            List.of(ChatMessage.user("Patient: Müller, 37 °C — naïve ✓")));

    @TempDir
    static Path tmp;

    /** transformers.js runs MatMulNBits as exported; so must the engine for the tokens to be comparable. */
    private static final RuntimeOptions AS_EXPORTED = RuntimeOptions.defaults().withQ4AccuracyLevel(-1);

    @BeforeAll
    static void reference() {
        TransformersJsReference.requireInstalled();
    }

    @Test
    void textOnlyFp32AndQ4AgreeOnEveryPrompt() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.FP32, WeightVariant.Q4).seed(11),
                tmp.resolve("text"));
        for (String dtype : List.of("fp32", "q4")) {
            try (MedGemmaModel model = MedGemmaModel.load(forged.dir(), dtype, AS_EXPORTED)) {
                for (List<ChatMessage> conversation : CONVERSATIONS) {
                    assertAgreement(model, forged, dtype, conversation, List.of());
                }
            }
        }
    }

    @Test
    void textOnlyWithNumLogitsToKeepAndExternalDataAgrees() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().numLogitsToKeep(true).externalData(true).seed(5),
                tmp.resolve("text-keep"));
        try (MedGemmaModel model = MedGemmaModel.load(forged.dir(), null, AS_EXPORTED)) {
            assertAgreement(model, forged, "fp32", CONVERSATIONS.get(1), List.of());
        }
    }

    @Test
    void imageTextAgreesWithAndWithoutImages() throws IOException {
        ForgedModel forged = ModelForge.forge(ForgeSpec.imageText().variants(WeightVariant.FP32, WeightVariant.Q4).seed(7),
                tmp.resolve("image"));
        // Already the model's size: the comparison is about decoding, not about two resize implementations.
        Path image = writePng(tmp.resolve("scan.png"), forged.imageSize(), forged.imageSize(), 1);
        Path image2 = writePng(tmp.resolve("scan2.png"), forged.imageSize(), forged.imageSize(), 2);
        for (String dtype : List.of("fp32", "q4")) {
            try (MedGemmaModel model = MedGemmaModel.load(forged.dir(), dtype, AS_EXPORTED)) {
                assertAgreement(model, forged, dtype, CONVERSATIONS.get(0), List.of());
                assertAgreement(model, forged, dtype, List.of(ChatMessage.user(
                        new ContentPart.Image(Files.readAllBytes(image)), new ContentPart.Text("Describe the findings."))), List.of(image));
                assertAgreement(model, forged, dtype, List.of(ChatMessage.system("You are a radiologist."), ChatMessage.user(
                        new ContentPart.Image(Files.readAllBytes(image2)), new ContentPart.Text("Compare."))), List.of(image2));
            }
        }
    }

    private static void assertAgreement(MedGemmaModel model, ForgedModel forged, String dtype, List<ChatMessage> conversation,
                                        List<Path> images) {
        GenerationResult ours = model.generate(new GenerationRequest(conversation, GenerationParams.greedy(NEW_TOKENS)));
        TransformersJsReference.Result ref = TransformersJsReference.run(
                TransformersJsReference.Request.chat(forged.dir(), dtype, hfMessages(conversation), NEW_TOKENS).withImages(images));
        String what = dtype + " " + forged.layout() + " conversation of " + conversation.size() + " message(s), " + images.size() + " image(s)";
        assertEquals(ref.promptTokenIdsViaChatTemplate(), boxed(ours.promptTokenIds()), "prompt ids, " + what);
        assertEquals(ref.generatedTokenIds(), boxed(ours.generatedTokenIds()), "generated ids, " + what);
        assertTrue(ours.generatedTokenIds().length > 0);
    }

    /** The same conversation in the Hugging Face message format the Jinja template reads. */
    static List<Map<String, Object>> hfMessages(List<ChatMessage> conversation) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (ChatMessage m : conversation) {
            String role = switch (m.role()) {
                case SYSTEM -> "system";
                case USER -> "user";
                case ASSISTANT -> "assistant";
            };
            List<Map<String, Object>> parts = new ArrayList<>();
            for (ContentPart p : m.parts()) {
                parts.add(p instanceof ContentPart.Text t ? Map.of("type", "text", "text", t.text()) : Map.of("type", "image"));
            }
            out.add(Map.of("role", role, "content", parts));
        }
        return out;
    }

    static Path writePng(Path file, int width, int height, long seed) throws IOException {
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Random r = new Random(seed);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                img.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        ImageIO.write(img, "png", file.toFile());
        return file;
    }

    private static List<Integer> boxed(int[] ids) {
        return Arrays.stream(ids).boxed().toList();
    }
}
