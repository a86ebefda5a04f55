package dev.medgemmafhir.engine.model;

import dev.medgemmafhir.engine.EngineException;

import java.nio.file.Path;

/** A model directory cannot be loaded; the message names the file and the problem. */
public class ModelLoadException extends EngineException {

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "{@code file}: {@code problem}", with {@code file} shown relative to {@code dir}. */
    public static ModelLoadException at(Path dir, Path file, String problem) {
        return new ModelLoadException(relative(dir, file) + ": " + problem);
    }

    public static ModelLoadException at(Path dir, Path file, String problem, Throwable cause) {
        return new ModelLoadException(relative(dir, file) + ": " + problem, cause);
    }

    static String relative(Path dir, Path file) {
        try {
            return dir.toAbsolutePath().relativize(file.toAbsolutePath()).toString() + " (in " + dir + ")";
        } catch (IllegalArgumentException e) {
            return file.toString();
        }
    }
}
