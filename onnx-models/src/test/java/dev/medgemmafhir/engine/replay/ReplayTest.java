package dev.medgemmafhir.engine.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The replay verdicts, on an engine that answers fixed tokens. */
class ReplayTest {

    static final GenerationRequest REQUEST = GenerationRequest.of("sys", "user", GenerationParams.greedy(8));

    static Engine engine(String digest, int... tokens) {
        return new Engine() {
            @Override
            public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
                return new GenerationResult("t", new int[3], tokens, StopReason.END_OF_SEQUENCE, 1, 1, "CPU");
            }

            @Override
            public int countTokens(String text) {
                return 1;
            }

            @Override
            public int countPromptTokens(GenerationRequest request) {
                return 1;
            }

            @Override
            public int contextLength() {
                return 64;
            }

            @Override
            public ModelIdentity identity() {
                return new ModelIdentity("m", "gemma3_text", "fp32", Optional.empty(), () -> digest);
            }

            @Override
            public void close() {}
        };
    }

    static Replay.Recorded recorded(GenerationRequest request, List<Integer> tokens, Map<String, String> sources) {
        RecordedRequest prompt = new RecordedRequest(request, List.of(),
                Optional.of(new RecordedRequest.Output(tokens, "end_of_sequence", "t", "CPU")));
        return new Replay.Recorded("DocumentReference/1", "Device/2", "fp32", "sha256:aa", sources, Optional.of(prompt), null);
    }

    @Test
    void sameTokensAreIdenticalAndTheFirstDifferenceIsNamed() {
        Replay.Report same = Replay.run(recorded(REQUEST, List.of(5, 6, 1), Map.of()), v -> "sha256:aa", v -> engine("sha256:aa", 5, 6, 1), Optional.empty());
        assertEquals(Replay.Verdict.IDENTICAL, same.verdict());
        Replay.Report differs = Replay.run(recorded(REQUEST, List.of(5, 6, 1), Map.of()), v -> "sha256:aa", v -> engine("sha256:aa", 5, 7, 1), Optional.empty());
        assertEquals(Replay.Verdict.DIFFERENT, differs.verdict());
        assertEquals(1, differs.firstDifference());
        Replay.Report longer = Replay.run(recorded(REQUEST, List.of(5, 6), Map.of()), v -> "sha256:aa", v -> engine("sha256:aa", 5, 6, 1), Optional.empty());
        assertEquals(2, longer.firstDifference());
    }

    @Test
    void otherWeightsImagesOrNoPromptAreNotReproducible() {
        Replay.Report weights = Replay.run(recorded(REQUEST, List.of(5), Map.of()), v -> "sha256:bb", v -> {
            throw new AssertionError("weights that are not the recorded ones are not loaded (they may not even load)");
        }, Optional.empty());
        assertEquals(Replay.Verdict.NOT_REPRODUCIBLE, weights.verdict());
        assertEquals(3, weights.verdict().exitCode);
        assertTrue(weights.message().contains("sha256:bb") && weights.message().contains("sha256:aa"));

        Replay.Report source = Replay.run(recorded(REQUEST, List.of(5), Map.of("model.safetensors", "11")),
                v -> "sha256:aa", v -> engine("sha256:aa", 5), Optional.of("{\"source\":{\"files\":[{\"path\":\"model.safetensors\",\"sha256\":\"22\"}]}}"));
        assertEquals(Replay.Verdict.NOT_REPRODUCIBLE, source.verdict());
        assertTrue(source.message().contains("model.safetensors"));

        GenerationRequest withImage = new GenerationRequest(List.of(ChatMessage.user(new ContentPart.Text("x"),
                new ContentPart.Image(new byte[] {1}))), GenerationParams.greedy(4));
        RecordedRequest imageRecord = RecordedRequest.fromJson(RecordedRequest.toJson(withImage));
        Replay.Report image = Replay.run(new Replay.Recorded("DiagnosticReport/1", "Device/2", "fp32", "sha256:aa", Map.of(),
                Optional.of(imageRecord), null), v -> "sha256:aa", v -> engine("sha256:aa", 5), Optional.empty());
        assertEquals(Replay.Verdict.NOT_REPRODUCIBLE, image.verdict());
        assertTrue(image.message().contains("image"));

        Replay.Report none = Replay.run(new Replay.Recorded("DocumentReference/1", "Device/2", "fp32", "sha256:aa", Map.of(),
                Optional.empty(), "no prompt was stored"), v -> "sha256:aa", v -> engine("sha256:aa", 5), Optional.empty());
        assertEquals(Replay.Verdict.NOT_REPRODUCIBLE, none.verdict());
    }
}
