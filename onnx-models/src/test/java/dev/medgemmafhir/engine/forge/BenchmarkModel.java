package dev.medgemmafhir.engine.forge;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Forges the shape-faithful benchmark model: MedGemma 4B's text decoder sizes (34 layers, hidden
 * 2560, 8 query / 4 kv heads of 256, MLP 10240, 262208 ids) as a text-only (layout B) q4 export
 * with external data. Its weights are random, so its output is noise, but every MatMul has the
 * real model's shape, so its speed is the real model's speed on the same graph.
 *
 * <p>Like the real q4 exports, only the MatMuls are 4-bit: the embedding table stays fp32
 * (262208 x 2560 x 4 B = 2.7 GB, of which one row is read per token) and the output head is
 * its own MatMulNBits. Test code (it uses the forge); run it through Maven:
 * <pre>
 * mvn -o -pl onnx-models test-compile
 * mvn -o -pl onnx-models org.codehaus.mojo:exec-maven-plugin:3.6.4:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=dev.medgemmafhir.engine.forge.BenchmarkModel -Dexec.args="/tmp/medgemma-4b-shape [accuracy_level]"
 * </pre>
 * (onnx-models/BENCHMARKS.md has the numbers it gave.)
 */
public final class BenchmarkModel {

    private BenchmarkModel() {
    }

    /** The spec: MatMulNBits {@code accuracy_level} 0 unless given (what an export without the option writes). */
    public static ForgeSpec spec(int accuracyLevel) {
        return ForgeSpec.textOnly()
                .variants(WeightVariant.Q4)
                .dims(ForgeDims.medGemma4bShape())
                .externalData(true)
                .q4AccuracyLevel(accuracyLevel);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: BenchmarkModel DIR [accuracy_level]");
            System.exit(2);
        }
        Path dir = Path.of(args[0]);
        int accuracyLevel = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        long t0 = System.nanoTime();
        ModelForge.forge(spec(accuracyLevel), dir);
        long bytes;
        try (Stream<Path> files = Files.walk(dir)) {
            bytes = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        System.out.printf("forged %s (accuracy_level %d): %.2f GB in %.0f s%n", dir, accuracyLevel, bytes / 1e9,
                (System.nanoTime() - t0) / 1e9);
    }
}
