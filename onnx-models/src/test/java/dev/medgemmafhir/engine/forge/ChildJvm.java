package dev.medgemmafhir.engine.forge;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A test's main class run in a child JVM of this one (same Java, same class path), for what a test cannot set in its
 * own JVM: heap or direct-memory limits, a fresh native-library state, system properties read once.
 */
public final class ChildJvm {

    /** What the child printed (stdout and stderr together), and how it ended. */
    public record Result(boolean finished, int exitValue, String output) {
    }

    private ChildJvm() {
    }

    /** A process builder for {@code main} with {@code jvmOptions} and {@code args}; the caller may adjust it before {@link #run}. */
    public static ProcessBuilder builder(Class<?> main, List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));
        return new ProcessBuilder(command).redirectErrorStream(true);
    }

    /** Starts it, reads all it prints, and waits up to {@code timeoutMinutes} for it to end. */
    public static Result run(ProcessBuilder builder, long timeoutMinutes) throws IOException, InterruptedException {
        Process p = builder.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        boolean finished = p.waitFor(timeoutMinutes, TimeUnit.MINUTES);
        return new Result(finished, finished ? p.exitValue() : -1, output);
    }
}
