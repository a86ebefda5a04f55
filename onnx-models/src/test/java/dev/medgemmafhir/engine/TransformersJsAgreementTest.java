package dev.medgemmafhir.engine;

import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.TransformersJsReference;
import dev.medgemmafhir.engine.forge.WeightVariant;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The acceptance test: on forged models, the engine's greedy token ids equal transformers.js's,
 * token for token, and so do the prompt ids (the engine renders Gemma's chat format natively; the
 * reference evaluates the directory's Jinja template).
 */
class TransformersJsAgreementTest {

    @TempDir
    Path tmp;

    @Test
    void textOnlySmoke() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().seed(3), tmp.resolve("text"));
        try (MedGemmaModel model = MedGemmaModel.load(forged.dir(), "fp32", RuntimeOptions.defaults())) {
            GenerationResult r = model.generate(GenerationRequest.of("You are terse.", "Hello there", GenerationParams.greedy(12)));
            System.out.println(Arrays.toString(r.promptTokenIds()) + " -> " + Arrays.toString(r.generatedTokenIds()) + " " + r.stopReason());
            TransformersJsReference.requireInstalled();
            TransformersJsReference.Result ref = TransformersJsReference.run(TransformersJsReference.Request.chat(forged.dir(), "fp32",
                    List.of(TransformersJsReference.message("system", "You are terse."), TransformersJsReference.message("user", "Hello there")), 12));
            System.out.println(ref.promptTokenIdsViaChatTemplate() + " -> " + ref.generatedTokenIds());
            assertEquals(ref.promptTokenIdsViaChatTemplate(), Arrays.stream(r.promptTokenIds()).boxed().toList());
            assertEquals(ref.generatedTokenIds(), Arrays.stream(r.generatedTokenIds()).boxed().toList());
        }
    }
}
