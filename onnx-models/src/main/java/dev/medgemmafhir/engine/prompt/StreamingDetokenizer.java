package dev.medgemmafhir.engine.prompt;

import java.util.Arrays;

/**
 * Turns tokens into text deltas as they arrive. A byte-fallback token may carry part of a UTF-8
 * character, so each new token's text is taken as the difference between decoding a short window
 * with and without it, and held back while it ends in an incomplete character (U+FFFD). The window
 * restarts after each emitted delta, so the work per token stays small.
 */
public final class StreamingDetokenizer {

    private static final char REPLACEMENT = '\uFFFD';

    private final PromptTokenizer tokenizer;
    private int[] ids = new int[64];
    private int size;
    private int prefix;
    private int read;

    public StreamingDetokenizer(PromptTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Adds a token; returns the text it completes (possibly empty). */
    public String push(int id) {
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, size * 2);
        }
        ids[size++] = id;
        String before = tokenizer.decode(ids, prefix, read, true);
        String now = tokenizer.decode(ids, prefix, size, true);
        if (now.length() > before.length() && now.charAt(now.length() - 1) != REPLACEMENT) {
            prefix = read;
            read = size;
            return now.substring(before.length());
        }
        return "";
    }

    /** Text still held back at the end (an incomplete character is emitted as U+FFFD). */
    public String flush() {
        if (read == size) {
            return "";
        }
        String before = tokenizer.decode(ids, prefix, read, true);
        String now = tokenizer.decode(ids, prefix, size, true);
        prefix = read = size;
        return now.length() > before.length() ? now.substring(before.length()) : "";
    }
}
