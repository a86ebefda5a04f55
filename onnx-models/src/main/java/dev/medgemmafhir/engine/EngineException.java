package dev.medgemmafhir.engine;

/** The engine failed while running a model (a runtime error, not a problem with the request). */
public class EngineException extends RuntimeException {

    public EngineException(String message) {
        super(message);
    }

    public EngineException(String message, Throwable cause) {
        super(message, cause);
    }
}
