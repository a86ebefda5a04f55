package dev.medgemmafhir.engine;

/**
 * What a generation produced.
 *
 * @param text the generated text: special tokens skipped, a Gemma "thinking" block
 *     ({@code <unused94>...<unused95>}) removed, cut before a stop string
 * @param promptTokenIds the prompt as the model saw it (image token runs included)
 * @param generatedTokenIds every token the model produced, the final end-of-sequence id included
 * @param stopReason why it stopped
 * @param prefillMillis time to the first generated token (image encoding included)
 * @param decodeMillis time for the tokens after the first
 * @param executionProvider where the graphs ran, e.g. {@code CPU} or {@code CUDA}
 */
public record GenerationResult(
        String text,
        int[] promptTokenIds,
        int[] generatedTokenIds,
        StopReason stopReason,
        double prefillMillis,
        double decodeMillis,
        String executionProvider) {

    /** Tokens per second after the first token (0 when fewer than two tokens were generated). */
    public double decodeTokensPerSecond() {
        int decoded = generatedTokenIds.length - 1;
        return decoded > 0 && decodeMillis > 0 ? decoded * 1000.0 / decodeMillis : 0;
    }
}
