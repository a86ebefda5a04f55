package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import dev.medgemmafhir.engine.forge.GemmaReference;
import dev.medgemmafhir.engine.forge.LoraAdapterForge;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.LOGIT_TOLERANCE;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.NEW_TOKENS;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.boxed;
import static dev.medgemmafhir.engine.convert.ConverterAgreementTest.maxAbsDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A hospital's fine-tune as a PEFT LoRA adapter, merged during conversion: the reference with the adapter applied decodes the same. */
class LoraMergeTest {

    @TempDir
    Path temp;

    @Test
    void mergedAdapterGivesTheAdaptedModelsTokensAndIsRecorded() throws Exception {
        CheckpointForge.Forged base = CheckpointForge.forge(temp.resolve("base"), CheckpointForge.Shape.tiny(), false,
                CheckpointForge.Naming.RELEASED, 1, 29);
        Path adapterDir = temp.resolve("adapter");
        CheckpointForge.Forged adapted = LoraAdapterForge.forge(adapterDir, base, 4, 8, List.of("q_proj", "v_proj", "down_proj"), 31);
        Path out = Converter.convert(base.dir(), temp.resolve("out"), new ConversionOptions("fp32", "standard", adapterDir),
                ConversionProgress.NONE).directory();

        GemmaReference withAdapter = new GemmaReference(adapted, true);
        GemmaReference without = new GemmaReference(base, true);
        CheckpointForge.Shape s = base.shape();
        boolean changedSomething = false;
        try (ConvertedGraphs graphs = new ConvertedGraphs(out, "", false, s.layers(), s.kvHeads(), s.headDim());
             MedGemmaModel model = MedGemmaModel.load(out, "fp32", RuntimeOptions.defaults())) {
            for (int[] prompt : ConverterAgreementTest.prompts(3, 37)) {
                float[][] logits = graphs.prefillLogits(Arrays.stream(prompt).asLongStream().toArray(), -1, null);
                double error = maxAbsDiff(withAdapter.logits(prompt, -1, null), logits);
                assertTrue(error < LOGIT_TOLERANCE, "logits differ from the adapted reference by " + error);
                List<Integer> expected = withAdapter.greedy(prompt, NEW_TOKENS, -1, null);
                assertEquals(expected, boxed(model.generateTokens(prompt, GenerationParams.greedy(NEW_TOKENS), false,
                        Cancellation.none()).generatedTokenIds()));
                changedSomething |= !expected.equals(without.greedy(prompt, NEW_TOKENS, -1, null));
            }
        }
        assertTrue(changedSomething, "the adapter changes the base model's tokens on at least one prompt");

        JsonNode record = new ObjectMapper().readTree(out.resolve("conversion.json").toFile());
        JsonNode adapter = record.path("adapter");
        assertEquals(4, adapter.path("rank").asInt());
        assertEquals(8.0, adapter.path("alpha").asDouble());
        assertEquals(List.of("q_proj", "v_proj", "down_proj"), List.of(adapter.path("targetModules").get(0).asText(),
                adapter.path("targetModules").get(1).asText(), adapter.path("targetModules").get(2).asText()));
        for (JsonNode f : adapter.path("files")) {
            assertEquals(Converter.sha256(adapterDir.resolve(f.path("path").asText())), f.path("sha256").asText());
        }
        assertEquals(2, adapter.path("files").size());
        assertNotEquals(record.path("source").path("files").toString(), adapter.path("files").toString());
    }
}
