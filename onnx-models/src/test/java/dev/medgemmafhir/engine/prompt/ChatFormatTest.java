package dev.medgemmafhir.engine.prompt;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.InvalidInputException;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ChatFormatTest {

    private final ChatFormat text = new ChatFormat("<bos>", null);
    private final ChatFormat image = new ChatFormat("<bos>", new ChatFormat.ImageTokens("<start_of_image>", "<img>", "<end_of_image>", 3));

    @Test
    void singleUserTurnEndsWithTheStartOfTheModelsTurn() {
        assertEquals("<bos><start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
                text.render(List.of(ChatMessage.user("Hello"))));
    }

    @Test
    void systemMessageIsFoldedIntoTheFirstUserTurnUntrimmed() {
        assertEquals("<bos><start_of_turn>user\n Be brief. \n\nHi<end_of_turn>\n<start_of_turn>model\n",
                text.render(List.of(ChatMessage.system(" Be brief. "), ChatMessage.user("  Hi \n"))));
    }

    @Test
    void assistantTurnsAreRenderedAsModelAndTextIsTrimmed() {
        assertEquals("<bos><start_of_turn>user\nA<end_of_turn>\n<start_of_turn>model\nB<end_of_turn>\n"
                        + "<start_of_turn>user\nC<end_of_turn>\n<start_of_turn>model\n",
                text.render(List.of(ChatMessage.user("A\u00A0"), ChatMessage.assistant("\tB"), ChatMessage.user("C"))));
    }

    @Test
    void imagePartsExpandToTheImageTokenRun() {
        String rendered = image.render(List.of(ChatMessage.user(new ContentPart.Image(new byte[0]), new ContentPart.Text(" Findings? "))));
        assertEquals("<bos><start_of_turn>user\n\n\n<start_of_image><img><img><img><end_of_image>\n\nFindings?<end_of_turn>\n"
                + "<start_of_turn>model\n", rendered);
        assertEquals(1, ChatFormat.imageCount(List.of(ChatMessage.user(new ContentPart.Image(new byte[0])))));
    }

    @Test
    void rolesMustAlternateStartingWithTheUser() {
        assertThrows(InvalidInputException.class, () -> text.render(List.of(ChatMessage.assistant("x"))));
        assertThrows(InvalidInputException.class, () -> text.render(List.of(ChatMessage.user("a"), ChatMessage.user("b"))));
        assertThrows(InvalidInputException.class, () -> text.render(List.of(ChatMessage.user("a"), ChatMessage.system("b"))));
    }

    @Test
    void aTextModelRefusesImages() {
        assertThrows(InvalidInputException.class, () -> text.render(List.of(ChatMessage.user(new ContentPart.Image(new byte[1])))));
    }
}
