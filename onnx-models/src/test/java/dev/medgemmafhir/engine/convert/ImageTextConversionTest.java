package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.forge.GemmaReference;
import dev.medgemmafhir.engine.model.Layout;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.LOGIT_TOLERANCE;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.NEW_TOKENS;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.boxed;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Image + text checkpoints ({@code Gemma3ForConditionalGeneration}) in both key namings, one file
 * and shards, converted to layout A: SigLIP + projector features, text prompts and image prompts
 * against the independent reference.
 */
class ImageTextConversionTest {

    @TempDir
    Path temp;

    @ParameterizedTest
    @EnumSource(CheckpointForge.Naming.class)
    void convertedImageTextModelAgreesWithTheReference(CheckpointForge.Naming naming) throws Exception {
        CheckpointForge.Forged ck = CheckpointForge.forge(temp.resolve("ck"), CheckpointForge.Shape.tiny(), true, naming,
                naming == CheckpointForge.Naming.RELEASED ? 1 : 3, 5);
        Path out = Converter.convert(ck.dir(), temp.resolve("out"), new ConversionOptions("fp32", "standard"),
                ConversionProgress.NONE).directory();
        CheckpointForge.Shape s = ck.shape();
        GemmaReference reference = new GemmaReference(ck, true);
        GemmaReference causalReference = new GemmaReference(ck, false);

        double[][][] pixels = pixels(s.imageSize(), 3);
        int image = ck.tokens().imageSoftToken();
        try (ConvertedGraphs graphs = new ConvertedGraphs(out, "", true, s.layers(), s.kvHeads(), s.headDim())) {
            double[][] expectedFeatures = reference.imageFeatures(pixels);
            float[][] features = graphs.imageFeatures(pixels);
            double featureError = maxAbsDiff(expectedFeatures, features);
            assertTrue(featureError < LOGIT_TOLERANCE, "image features differ by " + featureError);

            for (int[] prompt : ConverterAgreementTest.prompts(3, 41)) {
                double error = maxAbsDiff(reference.logits(prompt, -1, null),
                        graphs.prefillLogits(Arrays.stream(prompt).asLongStream().toArray(), -1, null));
                assertTrue(error < LOGIT_TOLERANCE, "text prompt logits differ by " + error);
            }

            int[] imagePrompt = imagePrompt(ck, s.mmTokensPerImage());
            long[] ids = Arrays.stream(imagePrompt).asLongStream().toArray();
            // Image tokens marked in the attention mask (as the engine does), the image attends within itself as in the original.
            double bidirectionalError = maxAbsDiff(reference.logits(imagePrompt, image, expectedFeatures),
                    graphs.prefillLogits(ids, image, features, true));
            // A plain 0/1 mask (as transformers.js feeds it), the graph falls back to plainly causal attention.
            double causalError = maxAbsDiff(causalReference.logits(imagePrompt, image, expectedFeatures),
                    graphs.prefillLogits(ids, image, features, false));
            double causalVsOriginal = maxAbsDiff(reference.logits(imagePrompt, image, expectedFeatures),
                    graphs.prefillLogits(ids, image, features, false));
            System.out.printf("%s naming: image features %.2e; image prompt vs original %.2e; 0/1 mask vs causal"
                    + " reference %.2e (vs original %.2f)%n", naming, featureError, bidirectionalError, causalError, causalVsOriginal);
            assertTrue(bidirectionalError < LOGIT_TOLERANCE, "image prompt logits differ from the original by " + bidirectionalError);
            assertTrue(causalError < LOGIT_TOLERANCE, "with a 0/1 mask, logits differ from the causal reference by " + causalError);
        }

        try (MedGemmaModel model = MedGemmaModel.load(out, "fp32", RuntimeOptions.defaults())) {
            assertEquals(Layout.TRANSFORMERS_JS_IMAGE_TEXT, model.layout());
            for (int[] prompt : ConverterAgreementTest.prompts(2, 43)) {
                List<Integer> expected = reference.greedy(prompt, NEW_TOKENS, -1, null);
                int[] tokens = model.generateTokens(prompt, GenerationParams.greedy(NEW_TOKENS), false, Cancellation.none())
                        .generatedTokenIds();
                assertEquals(expected, boxed(tokens));
            }

            // An image prompt through the chat API: the engine's own preprocessing, template and image marking.
            double[][][] px = pixels(s.imageSize(), 9);
            GenerationResult result = model.generate(new GenerationRequest(List.of(ChatMessage.user(
                    new ContentPart.Image(png(px)), new ContentPart.Text("what is shown?"))), GenerationParams.greedy(NEW_TOKENS)),
                    TextStreamListener.NONE, Cancellation.none());
            List<Integer> expected = reference.greedy(result.promptTokenIds(), NEW_TOKENS, image, reference.imageFeatures(px));
            List<Integer> actual = boxed(result.generatedTokenIds());
            assertTrue(Arrays.stream(result.promptTokenIds()).filter(id -> id == image).count() == s.mmTokensPerImage());
            assertTrue(!actual.isEmpty() && actual.equals(expected.subList(0, actual.size())),
                    "engine " + actual + " vs original " + expected);
        }
    }

    /** The pixels (already in [-1, 1] on the 1/255 grid) as an RGB PNG the engine decodes back to the same values. */
    static byte[] png(double[][][] px) throws java.io.IOException {
        int size = px[0].length;
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(size, size, java.awt.image.BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < size; y++) {
            for (int x = 0; x < size; x++) {
                int rgb = 0;
                for (int c = 0; c < 3; c++) {
                    rgb = (rgb << 8) | (int) Math.round((px[c][y][x] * 0.5 + 0.5) * 255);
                }
                img.setRGB(x, y, rgb);
            }
        }
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        javax.imageio.ImageIO.write(img, "png", out);
        return out.toByteArray();
    }

    /** {@code <bos> text <start_of_image> image tokens <end_of_image> text}. */
    static int[] imagePrompt(CheckpointForge.Forged ck, int imageTokens) {
        int[] before = {2, 40, 41, 42, 43};
        int[] after = {50, 51, 52, 53, 54, 55};
        int[] p = new int[before.length + imageTokens + 2 + after.length];
        int i = 0;
        for (int id : before) {
            p[i++] = id;
        }
        p[i++] = ck.tokens().startOfImage();
        for (int k = 0; k < imageTokens; k++) {
            p[i++] = ck.tokens().imageSoftToken();
        }
        p[i++] = ck.tokens().endOfImage();
        for (int id : after) {
            p[i++] = id;
        }
        return p;
    }

    /** Normalised pixels [3][size][size] in [-1, 1], as (x / 255 - 0.5) / 0.5 gives. */
    static double[][][] pixels(int size, long seed) {
        Random r = new Random(seed);
        double[][][] px = new double[3][size][size];
        for (double[][] channel : px) {
            for (double[] row : channel) {
                for (int x = 0; x < size; x++) {
                    row[x] = (r.nextInt(256) / 255.0 - 0.5) / 0.5;
                }
            }
        }
        return px;
    }
}
