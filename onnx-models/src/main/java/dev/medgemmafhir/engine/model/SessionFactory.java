package dev.medgemmafhir.engine.model;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Opens ONNX Runtime sessions with one set of options, and decides the execution provider once. Graphs open from
 * their files, or, when the q4 accuracy level rewrites one, from the rewritten graph's bytes with its external data
 * read from the model's own folder (never a byte array holding weights: past 2 GB a protobuf cannot).
 */
public final class SessionFactory implements AutoCloseable {

    /** ONNX Runtime's session option: where a graph given as bytes finds its external data files. */
    private static final String EXTERNAL_DATA_FOLDER = "session.model_external_initializers_file_folder_path";

    private static final System.Logger LOG = System.getLogger(SessionFactory.class.getName());

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;
    private final ExecutionProvider provider;
    private final int q4AccuracyLevel;

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
            Optional<byte[]> rewrittenGraph = withAccuracyLevel(dir, graph);
            if (rewrittenGraph.isEmpty()) {
                return env.createSession(graph.toString(), options);
            }
            // A graph given as bytes finds its external data in this folder (the original files: the weights are
            // neither copied nor loaded twice). Every graph of a model shares its folder, so the entry is the same
            // for all of them; ONNX Runtime reads it only for graphs given as bytes.
            options.addConfigEntry(EXTERNAL_DATA_FOLDER, graph.toAbsolutePath().getParent().toString());
            return env.createSession(rewrittenGraph.get(), options);
        } catch (OrtException e) {
            String hint = ModelDirectory.externalData(graph).isEmpty() && String.valueOf(e.getMessage()).contains("external")
                    ? " (its external data file " + graph.getFileName() + "_data is missing)" : "";
            throw ModelLoadException.at(dir, graph, "ONNX Runtime cannot load this graph" + hint + ": " + e.getMessage(), e);
        }
    }

    /**
     * Empty to open {@code graph} as it is, or, when a q4 accuracy level is asked for and the graph's MatMulNBits
     * differ from it, the rewritten graph's bytes (only the graph: its weights stay in the external data files).
     */
    private Optional<byte[]> withAccuracyLevel(Path dir, Path graph) {
        // The attribute picks a CPU kernel; the CUDA kernel does not read it.
        if (q4AccuracyLevel < 0 || provider == ExecutionProvider.CUDA) {
            return Optional.empty();
        }
        try {
            if (Files.size(graph) > (1L << 30)) {
                LOG.log(Level.WARNING, "{0} keeps its weights inline ({1} bytes); its q4 accuracy level is left as exported",
                        graph, Files.size(graph));
                return Optional.empty();
            }
            Optional<byte[]> bytes;
            try {
                bytes = MatMulNBitsAccuracy.withAccuracyLevel(Files.readAllBytes(graph), q4AccuracyLevel);
            } catch (IllegalArgumentException unreadable) {
                // Not a model the rewriter can read: ONNX Runtime's own loading names the problem.
                return Optional.empty();
            }
            bytes.ifPresent(b -> LOG.log(Level.INFO, "{0}: MatMulNBits accuracy_level set to {1}", graph.getFileName(), q4AccuracyLevel));
            return bytes;
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            throw ModelLoadException.at(dir, graph, "cannot set the q4 accuracy level: " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        options.close();
    }
}
