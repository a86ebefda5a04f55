package dev.medgemmafhir.engine;

import java.util.List;
import java.util.Objects;

/**
 * One turn of a conversation: a role and its parts (text and images, in order).
 *
 * @param role who speaks
 * @param parts what is said, in order
 */
public record ChatMessage(Role role, List<ContentPart> parts) {

    /** Conversation roles; a system message is folded into the first user turn by the chat format. */
    public enum Role { SYSTEM, USER, ASSISTANT }

    public ChatMessage {
        Objects.requireNonNull(role, "role");
        parts = List.copyOf(parts);
    }

    public static ChatMessage system(String text) {
        return new ChatMessage(Role.SYSTEM, List.of(new ContentPart.Text(text)));
    }

    public static ChatMessage user(String text) {
        return new ChatMessage(Role.USER, List.of(new ContentPart.Text(text)));
    }

    public static ChatMessage user(ContentPart... parts) {
        return new ChatMessage(Role.USER, List.of(parts));
    }

    public static ChatMessage assistant(String text) {
        return new ChatMessage(Role.ASSISTANT, List.of(new ContentPart.Text(text)));
    }
}
