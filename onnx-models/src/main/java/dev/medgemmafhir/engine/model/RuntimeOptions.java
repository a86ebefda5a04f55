package dev.medgemmafhir.engine.model;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;

/**
 * How ONNX Runtime runs a model.
 *
 * @param executionProvider CPU, or CUDA (falls back to CPU with one warning when unavailable)
 * @param cudaDeviceId which GPU when CUDA is used
 * @param intraOpThreads threads inside one operator; 0 = ONNX Runtime's default (one per physical core)
 * @param interOpThreads threads across operators; 0 = ONNX Runtime's default
 * @param optimizationLevel graph optimisation level
 * @param allowSpinning whether idle ONNX Runtime threads spin (faster steps, burns CPU between them)
 * @param logitsBudgetBytes without {@code num_logits_to_keep}, prefill runs in chunks whose logits fit in this
 * @param prefillChunkTokens fixed prefill chunk length; 0 = derived from {@code logitsBudgetBytes}
 */
public record RuntimeOptions(
        ExecutionProvider executionProvider,
        int cudaDeviceId,
        int intraOpThreads,
        int interOpThreads,
        OptLevel optimizationLevel,
        boolean allowSpinning,
        long logitsBudgetBytes,
        int prefillChunkTokens) {

    public RuntimeOptions {
        if (intraOpThreads < 0 || interOpThreads < 0 || prefillChunkTokens < 0 || logitsBudgetBytes < 1) {
            throw new IllegalArgumentException("thread counts and chunk sizes must not be negative");
        }
    }

    /** CPU, ONNX Runtime's default threads, all graph optimisations, spinning on, 64 MiB of prefill logits. */
    public static RuntimeOptions defaults() {
        return new RuntimeOptions(ExecutionProvider.CPU, 0, 0, 0, OptLevel.ALL_OPT, true, 64L << 20, 0);
    }

    public RuntimeOptions withExecutionProvider(ExecutionProvider ep) {
        return new RuntimeOptions(ep, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens);
    }

    public RuntimeOptions withCudaDevice(int device) {
        return new RuntimeOptions(executionProvider, device, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens);
    }

    public RuntimeOptions withThreads(int intraOp, int interOp) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOp, interOp, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens);
    }

    public RuntimeOptions withOptimizationLevel(OptLevel level) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, level, allowSpinning, logitsBudgetBytes, prefillChunkTokens);
    }

    public RuntimeOptions withAllowSpinning(boolean spin) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, spin, logitsBudgetBytes, prefillChunkTokens);
    }

    public RuntimeOptions withPrefillChunkTokens(int tokens) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, tokens);
    }

    public RuntimeOptions withLogitsBudgetBytes(long bytes) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, bytes, prefillChunkTokens);
    }
}
