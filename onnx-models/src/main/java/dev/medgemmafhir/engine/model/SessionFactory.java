package dev.medgemmafhir.engine.model;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Opens ONNX Runtime sessions from file paths (never byte arrays: weights past 2 GB and external
 * data need the path) with one set of options, and decides the execution provider once.
 */
public final class SessionFactory implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SessionFactory.class.getName());

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;
    private final ExecutionProvider provider;
    private final int q4AccuracyLevel;
    private final List<Path> rewritten = new ArrayList<>();

    public SessionFactory(OrtEnvironment env, RuntimeOptions runtime) {
        this.env = env;
        this.q4AccuracyLevel = runtime.q4AccuracyLevel();
        try {
            options = new OrtSession.SessionOptions();
            options.setOptimizationLevel(runtime.optimizationLevel());
            if (runtime.intraOpThreads() > 0) {
                options.setIntraOpNumThreads(runtime.intraOpThreads());
            }
            if (runtime.interOpThreads() > 0) {
                options.setInterOpNumThreads(runtime.interOpThreads());
            }
            options.addConfigEntry("session.intra_op.allow_spinning", runtime.allowSpinning() ? "1" : "0");
            options.addConfigEntry("session.inter_op.allow_spinning", runtime.allowSpinning() ? "1" : "0");
            if (!runtime.profilePrefix().isEmpty()) {
                options.enableProfiling(runtime.profilePrefix());
            }
            provider = chooseProvider(runtime);
        } catch (OrtException e) {
            throw new ModelLoadException("cannot configure ONNX Runtime: " + e.getMessage(), e);
        }
    }

    private ExecutionProvider chooseProvider(RuntimeOptions runtime) {
        if (runtime.executionProvider() != ExecutionProvider.CUDA) {
            return ExecutionProvider.CPU;
        }
        if (!OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA)) {
            LOG.log(Level.WARNING, "CUDA was requested but this ONNX Runtime build has no CUDA provider "
                    + "(build with -Pcuda for onnxruntime_gpu); running on CPU");
            return ExecutionProvider.CPU;
        }
        try {
            options.addCUDA(runtime.cudaDeviceId());
            LOG.log(Level.INFO, "Running on CUDA device {0}", runtime.cudaDeviceId());
            return ExecutionProvider.CUDA;
        } catch (OrtException e) {
            LOG.log(Level.WARNING, "CUDA was requested but could not be initialised ({0}); running on CPU", e.getMessage());
            return ExecutionProvider.CPU;
        }
    }

    /** The provider sessions actually run on (CPU after a CUDA fallback). */
    public ExecutionProvider provider() {
        return provider;
    }

    /** Opens {@code graph}; a failure names the file and what ONNX Runtime said. */
    public OrtSession open(Path dir, Path graph) {
        try {
            return env.createSession(withAccuracyLevel(dir, graph).toString(), options);
        } catch (OrtException e) {
            String hint = ModelDirectory.externalData(graph).isEmpty() && String.valueOf(e.getMessage()).contains("external")
                    ? " (its external data file " + graph.getFileName() + "_data is missing)" : "";
            throw ModelLoadException.at(dir, graph, "ONNX Runtime cannot load this graph" + hint + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code graph} itself, or, when a q4 accuracy level is asked for and the graph's MatMulNBits differ from it, a
     * rewritten copy in a temporary directory beside links to the original external data files (ONNX Runtime finds
     * external data next to the graph file; the weights are neither copied nor loaded twice).
     */
    private Path withAccuracyLevel(Path dir, Path graph) {
        // The attribute picks a CPU kernel; the CUDA kernel does not read it.
        if (q4AccuracyLevel < 0 || provider == ExecutionProvider.CUDA) {
            return graph;
        }
        try {
            if (Files.size(graph) > (1L << 30)) {
                LOG.log(Level.WARNING, "{0} keeps its weights inline ({1} bytes); its q4 accuracy level is left as exported",
                        graph, Files.size(graph));
                return graph;
            }
            Optional<byte[]> bytes;
            try {
                bytes = MatMulNBitsAccuracy.withAccuracyLevel(Files.readAllBytes(graph), q4AccuracyLevel);
            } catch (IllegalArgumentException unreadable) {
                // Not a model the rewriter can read: ONNX Runtime's own loading names the problem.
                return graph;
            }
            if (bytes.isEmpty()) {
                return graph;
            }
            Path tmp = Files.createTempDirectory("medgemma-graph-");
            rewritten.add(tmp);
            Path copy = tmp.resolve(graph.getFileName());
            Files.write(copy, bytes.get());
            for (Path data : ModelDirectory.externalData(graph)) {
                Files.createSymbolicLink(tmp.resolve(data.getFileName()), data.toAbsolutePath());
            }
            LOG.log(Level.INFO, "{0}: MatMulNBits accuracy_level set to {1}", graph.getFileName(), q4AccuracyLevel);
            return copy;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            throw ModelLoadException.at(dir, graph, "cannot set the q4 accuracy level: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        options.close();
        // The sessions hold what they need; the rewritten graphs and links can go.
        for (Path tmp : rewritten) {
            try (Stream<Path> files = Files.walk(tmp)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            } catch (IOException | UncheckedIOException e) {
                LOG.log(Level.WARNING, "could not remove {0}: {1}", tmp, e.getMessage());
            }
        }
    }
}
