package dev.medgemmafhir.engine;

/** Why a generation stopped. */
public enum StopReason {
    /** The model produced one of its end-of-sequence ids (from config.json / generation_config.json). */
    END_OF_SEQUENCE,
    /** The text reached one of the request's stop strings (the stop string is not part of the text). */
    STOP_STRING,
    /** The request's maximum number of new tokens was generated. */
    MAX_NEW_TOKENS,
    /** Prompt plus generated tokens filled the model's context. */
    CONTEXT_FULL,
    /** {@link Cancellation#cancel()} was called. */
    CANCELLED
}
