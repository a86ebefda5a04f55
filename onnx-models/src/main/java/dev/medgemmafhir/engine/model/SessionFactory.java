package dev.medgemmafhir.engine.model;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;

import java.lang.System.Logger.Level;
import java.nio.file.Path;

/**
 * Opens ONNX Runtime sessions from file paths (never byte arrays: weights past 2 GB and external
 * data need the path) with one set of options, and decides the execution provider once.
 */
public final class SessionFactory implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(SessionFactory.class.getName());

    private final OrtEnvironment env;
    private final OrtSession.SessionOptions options;
    private final ExecutionProvider provider;

    public SessionFactory(OrtEnvironment env, RuntimeOptions runtime) {
        this.env = env;
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
            return env.createSession(graph.toString(), options);
        } catch (OrtException e) {
            String hint = ModelDirectory.externalData(graph).isEmpty() && String.valueOf(e.getMessage()).contains("external")
                    ? " (its external data file " + graph.getFileName() + "_data is missing)" : "";
            throw ModelLoadException.at(dir, graph, "ONNX Runtime cannot load this graph" + hint + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        options.close();
    }
}
