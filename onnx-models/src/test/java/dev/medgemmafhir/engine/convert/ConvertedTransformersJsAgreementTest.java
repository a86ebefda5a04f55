package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.forge.GemmaReference;
import dev.medgemmafhir.engine.forge.TransformersJsReference;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.boxed;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * transformers.js loads converted directories and decodes the engine's tokens: text models in fp32
 * and q4, image + text models on text prompts. On image prompts transformers.js feeds a plain 0/1
 * attention mask, so it runs the image tokens causally: it then matches a causal run of the
 * independent reference, while the engine matches the original's bidirectional attention (the two
 * may or may not pick different tokens on a given random model; the logits differ, see ImageTextConversionTest).
 */
class ConvertedTransformersJsAgreementTest {

    private static final int NEW_TOKENS = 12;

    @TempDir
    static Path temp;

    @BeforeAll
    static void reference() {
        TransformersJsReference.requireInstalled();
    }

    @Test
    void textModelsAgreeInFp32AndQ4() {
        CheckpointForge.Forged ck = CheckpointForge.forge(temp.resolve("text"), CheckpointForge.Shape.tiny(), false,
                CheckpointForge.Naming.RELEASED, 2, 17);
        for (String dtype : List.of("fp32", "q4")) {
            Path dir = Converter.convert(ck.dir(), temp.resolve("text-" + dtype), new ConversionOptions(dtype, "standard"),
                    ConversionProgress.NONE).directory();
            try (MedGemmaModel model = MedGemmaModel.load(dir, dtype, RuntimeOptions.defaults())) {
                agree(model, dir, dtype, List.of(ChatMessage.user("Summarise: BP 142/91, HR 88.")),
                        List.of(TransformersJsReference.message("user", "Summarise: BP 142/91, HR 88.")));
            }
        }
    }

    /** The fused graph (GroupQueryAttention and friends, no num_logits_to_keep) runs in transformers.js's onnxruntime-node too. */
    @Test
    void fusedTextModelAgreesToo() {
        CheckpointForge.Forged ck = CheckpointForge.forge(temp.resolve("text-fused"), CheckpointForge.Shape.tiny(), false,
                CheckpointForge.Naming.RELEASED, 1, 23);
        Path dir = Converter.convert(ck.dir(), temp.resolve("text-fused-fp32"), new ConversionOptions("fp32", "fused"),
                ConversionProgress.NONE).directory();
        try (MedGemmaModel model = MedGemmaModel.load(dir, "fp32", RuntimeOptions.defaults())) {
            agree(model, dir, "fp32", List.of(ChatMessage.user("Summarise: BP 142/91, HR 88.")),
                    List.of(TransformersJsReference.message("user", "Summarise: BP 142/91, HR 88.")));
        }
    }

    @Test
    void imageTextModelAgreesOnTextAndIsCausalOnImages() throws Exception {
        CheckpointForge.Forged ck = CheckpointForge.forge(temp.resolve("image"), CheckpointForge.Shape.tiny(), true,
                CheckpointForge.Naming.NEWER, 1, 19);
        Path dir = Converter.convert(ck.dir(), temp.resolve("image-fp32"), new ConversionOptions("fp32", "standard"),
                ConversionProgress.NONE).directory();
        double[][][] pixels = ImageTextConversionTest.pixels(ck.shape().imageSize(), 13);
        Path png = Files.write(temp.resolve("scan.png"), ImageTextConversionTest.png(pixels));
        try (MedGemmaModel model = MedGemmaModel.load(dir, "fp32", RuntimeOptions.defaults())) {
            agree(model, dir, "fp32", List.of(ChatMessage.user("Describe the findings.")),
                    List.of(TransformersJsReference.message("user", "Describe the findings.")));

            GenerationResult ours = model.generate(new GenerationRequest(List.of(ChatMessage.user(
                    new ContentPart.Image(Files.readAllBytes(png)), new ContentPart.Text("Describe."))), GenerationParams.greedy(NEW_TOKENS)));
            TransformersJsReference.Result js = TransformersJsReference.run(TransformersJsReference.Request.chat(dir, "fp32",
                    List.of(TransformersJsReference.userImageAndText("Describe.")), NEW_TOKENS).withImages(List.of(png)));
            assertEquals(js.promptTokenIdsViaChatTemplate(), boxed(ours.promptTokenIds()), "prompt ids");
            int image = ck.tokens().imageSoftToken();
            GemmaReference causal = new GemmaReference(ck, false);
            List<Integer> causalTokens = causal.greedy(ours.promptTokenIds(), js.generatedTokenIds().size(), image,
                    causal.imageFeatures(pixels));
            System.out.println("image prompt: engine " + boxed(ours.generatedTokenIds()) + ", transformers.js " + js.generatedTokenIds()
                    + ", causal reference " + causalTokens);
            assertEquals(causalTokens, js.generatedTokenIds(), "transformers.js runs the image causally");
            GemmaReference original = new GemmaReference(ck, true);
            assertEquals(original.greedy(ours.promptTokenIds(), ours.generatedTokenIds().length, image, original.imageFeatures(pixels)),
                    boxed(ours.generatedTokenIds()), "the engine attends within the image, as the original");
        }
    }

    private static void agree(MedGemmaModel model, Path dir, String dtype, List<ChatMessage> conversation,
                              List<Map<String, Object>> hfMessages) {
        GenerationResult ours = model.generate(new GenerationRequest(conversation, GenerationParams.greedy(NEW_TOKENS)));
        TransformersJsReference.Result js = TransformersJsReference.run(TransformersJsReference.Request.chat(dir, dtype, hfMessages, NEW_TOKENS));
        assertEquals(js.promptTokenIdsViaChatTemplate(), boxed(ours.promptTokenIds()), "prompt ids, " + dtype);
        assertEquals(js.generatedTokenIds(), boxed(ours.generatedTokenIds()), "generated ids, " + dtype + " " + dir.getFileName());
    }
}
