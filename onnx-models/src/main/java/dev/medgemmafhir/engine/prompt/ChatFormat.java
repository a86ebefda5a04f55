package dev.medgemmafhir.engine.prompt;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.InvalidInputException;

import java.util.List;

/**
 * Gemma's chat format, rendered natively rather than by evaluating the directory's Jinja template.
 * It reproduces the Gemma 3 / MedGemma {@code chat_template} with {@code add_generation_prompt}:
 * {@code <bos>}, a system message folded into the first user turn followed by a blank line, turns
 * {@code <start_of_turn>user|model\n...<end_of_turn>\n} with text parts trimmed, and
 * {@code <start_of_turn>model\n} at the end. Image parts render as the start-of-image token, which
 * is then expanded (as Gemma3Processor does) to {@code \n\n<start_of_image>} + N image soft tokens +
 * {@code <end_of_image>\n\n}. The end-to-end tests check the token ids against transformers.js
 * applying the template of the forged directories.
 *
 * @param bosToken text of the beginning-of-sequence token
 * @param images how image parts expand, null for text-only models
 */
public record ChatFormat(String bosToken, ImageTokens images) {

    /** The tokens an image part expands to. */
    public record ImageTokens(String boi, String imageToken, String eoi, int tokensPerImage) {
    }

    /** The prompt text of {@code messages} (image runs expanded). */
    public String render(List<ChatMessage> messages) {
        StringBuilder out = new StringBuilder(bosToken);
        int start = 0;
        String firstUserPrefix = "";
        if (!messages.isEmpty() && messages.get(0).role() == ChatMessage.Role.SYSTEM) {
            firstUserPrefix = systemText(messages.get(0)) + "\n\n";
            start = 1;
        }
        for (int i = start; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            boolean expectUser = (i - start) % 2 == 0;
            if (m.role() == ChatMessage.Role.SYSTEM) {
                throw new InvalidInputException("a system message may only come first");
            }
            if ((m.role() == ChatMessage.Role.USER) != expectUser) {
                throw new InvalidInputException("conversation roles must alternate user/assistant/user/..., starting with user");
            }
            out.append("<start_of_turn>").append(m.role() == ChatMessage.Role.USER ? "user" : "model").append('\n');
            if (i == start) {
                out.append(firstUserPrefix);
            }
            for (ContentPart part : m.parts()) {
                if (part instanceof ContentPart.Text t) {
                    out.append(trim(t.text()));
                } else {
                    out.append(imageRun());
                }
            }
            out.append("<end_of_turn>\n");
        }
        out.append("<start_of_turn>model\n");
        return out.toString();
    }

    /** Number of image parts in {@code messages}, in prompt order. */
    public static int imageCount(List<ChatMessage> messages) {
        int n = 0;
        for (ChatMessage m : messages) {
            for (ContentPart p : m.parts()) {
                if (p instanceof ContentPart.Image) {
                    n++;
                }
            }
        }
        return n;
    }

    private String imageRun() {
        if (images == null) {
            throw new InvalidInputException("this model takes no images (text-only model directory)");
        }
        return "\n\n" + images.boi() + images.imageToken().repeat(images.tokensPerImage()) + images.eoi() + "\n\n";
    }

    private static String systemText(ChatMessage system) {
        // The template takes a system message's first text as is (no trim).
        StringBuilder s = new StringBuilder();
        for (ContentPart p : system.parts()) {
            if (p instanceof ContentPart.Text t) {
                s.append(t.text());
            } else {
                throw new InvalidInputException("a system message cannot hold images");
            }
        }
        return s.toString();
    }

    /** Jinja's {@code trim} as transformers.js evaluates it (JavaScript's String.prototype.trim). */
    static String trim(String s) {
        int a = 0;
        int b = s.length();
        while (a < b && isJsWhitespace(s.charAt(a))) {
            a++;
        }
        while (b > a && isJsWhitespace(s.charAt(b - 1))) {
            b--;
        }
        return s.substring(a, b);
    }

    private static boolean isJsWhitespace(char c) {
        return c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r' || c == ' ' || c == '\u00A0'
                || c == '\u1680' || (c >= '\u2000' && c <= '\u200A') || c == '\u2028' || c == '\u2029' || c == '\u202F'
                || c == '\u205F' || c == '\u3000' || c == '\uFEFF';
    }
}
