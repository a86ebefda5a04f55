package dev.medgemmafhir.engine.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** This process's resident memory from {@code /proc/self/status} (Linux); -1 elsewhere. */
public final class ResidentMemory {

    private ResidentMemory() {
    }

    /** Peak resident set size in bytes ({@code VmHWM}): the JVM heap, ONNX Runtime's arenas and the weights it loaded. */
    public static long peakBytes() {
        return field("VmHWM:");
    }

    /** Current resident set size in bytes ({@code VmRSS}). */
    public static long currentBytes() {
        return field("VmRSS:");
    }

    private static long field(String name) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith(name)) {
                    String[] parts = line.substring(name.length()).trim().split("\\s+");
                    return Long.parseLong(parts[0]) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
