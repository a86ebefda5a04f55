package dev.medgemmafhir.engine;

import java.util.List;

/**
 * A conversation to continue and how to continue it. The prompt is the model's chat format of
 * {@code messages} followed by the start of the model's turn.
 */
public record GenerationRequest(List<ChatMessage> messages, GenerationParams params) {

    public GenerationRequest {
        messages = List.copyOf(messages);
        if (messages.isEmpty()) {
            throw new InvalidInputException("a request needs at least one message");
        }
        if (params == null) {
            throw new InvalidInputException("params must be given");
        }
    }

    /** A single user turn of text, optionally after a system instruction (null for none). */
    public static GenerationRequest of(String system, String user, GenerationParams params) {
        return system == null
                ? new GenerationRequest(List.of(ChatMessage.user(user)), params)
                : new GenerationRequest(List.of(ChatMessage.system(system), ChatMessage.user(user)), params);
    }
}
