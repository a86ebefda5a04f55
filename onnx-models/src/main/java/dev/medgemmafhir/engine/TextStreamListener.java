package dev.medgemmafhir.engine;

/**
 * Receives generated text while a generation runs. Deltas are whole characters: a character that
 * spans several tokens (byte-fallback pieces of a multi-byte UTF-8 sequence) arrives once it is
 * complete, and text that might be the start of a stop string is held back until it is not.
 * Called on the generating thread; keep it quick.
 */
@FunctionalInterface
public interface TextStreamListener {

    /** A listener that ignores everything. */
    TextStreamListener NONE = delta -> { };

    /** The next piece of text; concatenating all deltas gives {@link GenerationResult#text()}. */
    void onText(String delta);
}
