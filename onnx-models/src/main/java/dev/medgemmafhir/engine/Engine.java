package dev.medgemmafhir.engine;

/**
 * What the FHIR operations call to run a model: one loaded model, many concurrent requests.
 *
 * <p>{@link MedGemmaModel} is the ONNX Runtime implementation; tests of the operations replace it
 * with a scripted engine. Implementations are thread-safe: {@link #generate} may be called from
 * many threads at once, each call owning its own cache.
 */
public interface Engine extends AutoCloseable {

    /**
     * Runs one generation to completion (end of sequence, a stop string, the token limit, the
     * context limit or cancellation) and returns what was produced.
     *
     * @param request messages (text and images) and sampling parameters
     * @param listener receives text deltas as they are produced; {@link TextStreamListener#NONE} to ignore
     * @param cancellation cancel from any thread: the generation stops within one step and returns
     *     with {@link StopReason#CANCELLED}; {@link Cancellation#none()} when not needed
     * @throws InvalidInputException the request cannot be run (unreadable image, prompt longer than
     *     the context, bad parameters)
     * @throws EngineException the runtime failed
     */
    GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation);

    /** {@link #generate(GenerationRequest, TextStreamListener, Cancellation)} without streaming or cancellation. */
    default GenerationResult generate(GenerationRequest request) {
        return generate(request, TextStreamListener.NONE, Cancellation.none());
    }

    /** Number of tokens the model's own tokenizer makes of {@code text} (no special tokens added). */
    int countTokens(String text);

    /** Number of tokens in the prompt that {@code request}'s messages render to, image tokens included. */
    int countPromptTokens(GenerationRequest request);

    /** Maximum number of tokens (prompt plus generated) the model accepts. */
    int contextLength();

    /** Which model and weights are loaded: what a FHIR Device describing the author records. */
    ModelIdentity identity();

    /** Releases native resources; generations still running fail. */
    @Override
    void close();
}
