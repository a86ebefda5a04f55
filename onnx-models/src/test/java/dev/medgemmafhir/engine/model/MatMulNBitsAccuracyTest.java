package dev.medgemmafhir.engine.model;

import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MatMulNBitsAccuracyTest {

    @TempDir
    Path tmp;

    private static byte[] graph(ForgedModel m) throws Exception {
        return Files.readAllBytes(m.decoderFile(WeightVariant.Q4));
    }

    @Test
    void rewritesEveryMatMulNBitsAndNothingWhenTheyAlreadyHaveTheLevel() throws Exception {
        ForgedModel level0 = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4).q4AccuracyLevel(0), tmp.resolve("a"));
        ForgedModel level4 = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4).q4AccuracyLevel(4), tmp.resolve("b"));
        byte[] rewritten = MatMulNBitsAccuracy.withAccuracyLevel(graph(level0), 4).orElseThrow();
        // Every node now has level 4 (nothing left to change), and the attribute is replaced, not added twice:
        // the rewrite is as long as the graph the forge writes with level 4.
        assertTrue(MatMulNBitsAccuracy.withAccuracyLevel(rewritten, 4).isEmpty());
        assertTrue(MatMulNBitsAccuracy.withAccuracyLevel(rewritten, 0).isPresent());
        assertEquals(graph(level4).length, rewritten.length);
        assertTrue(MatMulNBitsAccuracy.withAccuracyLevel(graph(level4), 4).isEmpty());
        assertTrue(MatMulNBitsAccuracy.withAccuracyLevel(graph(level0), 0).isEmpty());
    }

    @Test
    void anFp32GraphHasNothingToRewrite() throws Exception {
        ForgedModel fp32 = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("f"));
        assertTrue(MatMulNBitsAccuracy.withAccuracyLevel(Files.readAllBytes(fp32.decoderFile(WeightVariant.FP32)), 4).isEmpty());
    }

    @Test
    void aModelLoadedWithInt8ComputeRunsFromItsExternalDataAndCleansUp() throws Exception {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4).externalData(true), tmp.resolve("e"));
        GenerationRequest request = GenerationRequest.of(null, "Summarise the chart.", GenerationParams.greedy(6));
        GenerationResult exported;
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), "q4", RuntimeOptions.defaults().withQ4AccuracyLevel(-1))) {
            exported = m.generate(request);
        }
        long before = rewrittenDirs();
        GenerationResult int8;
        try (MedGemmaModel m = MedGemmaModel.load(forged.dir(), "q4", RuntimeOptions.defaults().withQ4AccuracyLevel(4))) {
            int8 = m.generate(request);
        }
        assertEquals(6, int8.generatedTokenIds().length);
        assertArrayEquals(exported.promptTokenIds(), int8.promptTokenIds());
        assertEquals(before, rewrittenDirs(), "the rewritten graph's temporary directory is removed on close");
        assertFalse(List.of(forged.dir().resolve("onnx").toFile().list()).stream().anyMatch(n -> n.contains("medgemma-graph")));
    }

    private static long rewrittenDirs() throws Exception {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return s.filter(p -> p.getFileName().toString().startsWith("medgemma-graph-")).count();
        }
    }
}
