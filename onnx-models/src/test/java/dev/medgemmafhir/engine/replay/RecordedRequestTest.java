package dev.medgemmafhir.engine.replay;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

class RecordedRequestTest {

    @Test
    void aTextRequestReadsBackEqualWithEveryParameter() {
        GenerationRequest request = new GenerationRequest(List.of(ChatMessage.system("Be brief.\n"),
                ChatMessage.user("BP 120/80 mmHg, \"quoted\", ünïcode\t[C1]")),
                GenerationParams.greedy(64).withSampling(0.7, 40, 0.9, 1234).withRepetitionPenalty(1.1)
                        .withStopStrings(List.of("</s>")));
        RecordedRequest back = RecordedRequest.fromJson(RecordedRequest.toJson(request));
        assertTrue(back.replayable());
        assertEquals(request, back.request());
        GenerationRequest greedy = GenerationRequest.of(null, "x", GenerationParams.greedy(3));
        assertEquals(greedy, RecordedRequest.fromJson(RecordedRequest.toJson(greedy)).request());
    }

    @Test
    void imagesAreRecordedByDigestAndCannotBeReplayedFromTheRecord() {
        GenerationRequest request = new GenerationRequest(List.of(ChatMessage.user(new ContentPart.Text("Describe"),
                new ContentPart.Image(new byte[] {1, 2, 3}))), GenerationParams.greedy(5));
        String json = RecordedRequest.toJson(request);
        assertFalse(json.contains("AQID"), "the image bytes are not stored");
        RecordedRequest back = RecordedRequest.fromJson(json);
        assertFalse(back.replayable());
        assertEquals(List.of("039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81"), back.imageDigests());
        String markdown = RecordedRequest.toMarkdown(request);
        assertTrue(markdown.contains("## user") && markdown.contains("Describe") && markdown.contains("[image sha256:039058c6"));
    }

    @Test
    void anythingElseIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> RecordedRequest.fromJson("{\"format\":\"other\"}"));
        assertThrows(IllegalArgumentException.class, () -> RecordedRequest.fromJson("not json"));
        assertThrows(IllegalArgumentException.class,
                () -> RecordedRequest.fromJson("{\"format\":\"" + RecordedRequest.FORMAT + "\",\"messages\":[]}"));
    }
}
