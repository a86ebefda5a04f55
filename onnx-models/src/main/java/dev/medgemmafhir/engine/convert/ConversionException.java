package dev.medgemmafhir.engine.convert;

import java.nio.file.Path;

/** A conversion that cannot go on; the message is one line naming the file at fault. */
public final class ConversionException extends RuntimeException {

    public ConversionException(String message) {
        super(message);
    }

    public ConversionException(String message, Throwable cause) {
        super(message, cause);
    }

    static ConversionException at(Path file, String problem) {
        return new ConversionException(file + ": " + problem);
    }
}
