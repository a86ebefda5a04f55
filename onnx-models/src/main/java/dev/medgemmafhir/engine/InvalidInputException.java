package dev.medgemmafhir.engine;

/**
 * The request cannot be run as given: an image that is not a readable PNG/JPEG or has unusable
 * dimensions, a prompt longer than the context, invalid sampling parameters. Callers map it to a
 * client error. Messages never contain clinical text.
 */
public class InvalidInputException extends EngineException {

    public InvalidInputException(String message) {
        super(message);
    }

    public InvalidInputException(String message, Throwable cause) {
        super(message, cause);
    }
}
