package dev.medgemmafhir.engine.forge;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Forges a random bf16 checkpoint of MedGemma 4B's real shape (image + text, 4 shards) or, with a
 * layer count, a text-only one with that many decoder layers, for measuring {@code models convert}
 * (time, peak memory). Generated into a temporary folder, never committed. Run through Maven:
 * <pre>
 * mvn -o -pl onnx-models org.codehaus.mojo:exec-maven-plugin:3.6.4:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=dev.medgemmafhir.engine.forge.ConversionBenchmarkCheckpoint -Dexec.args="/tmp/ck-4b [layers]"
 * </pre>
 */
public final class ConversionBenchmarkCheckpoint {

    private ConversionBenchmarkCheckpoint() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: ConversionBenchmarkCheckpoint DIR [text-only layers]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        boolean imageText = args.length < 2;
        CheckpointForge.Shape shape = imageText ? CheckpointForge.Shape.medGemma4b()
                : CheckpointForge.Shape.medGemma4b().withLayers(Integer.parseInt(args[1]));
        long t0 = System.nanoTime();
        CheckpointForge.forge(dir, shape, imageText, CheckpointForge.Naming.RELEASED, 4, 1, false);
        long bytes;
        try (Stream<Path> files = Files.walk(dir)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        System.out.printf("forged %s (%s, %d layers): %.2f GB in %.0f s%n", dir, imageText ? "image + text" : "text only",
                shape.layers(), bytes / 1e9, (System.nanoTime() - t0) / 1e9);
    }
}
