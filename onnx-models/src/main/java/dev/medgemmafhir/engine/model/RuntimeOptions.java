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
 * @param prefillChunkTokens fixed prefill chunk length; 0 = derived: at most {@link #BATCHED_PREFILL_CHUNK_TOKENS} when
 *     {@code maxBatch > 1}, at most what {@code logitsBudgetBytes} allows, and one sliding window on a graph that has them
 * @param q4AccuracyLevel -1 runs 4-bit MatMulNBits nodes as exported; 0-4 rewrites their {@code accuracy_level} at load
 *     on CPU (4 = int8 compute: about 2x faster decode, not bit-identical to the export, see {@link MatMulNBitsAccuracy});
 *     graphs without MatMulNBits and CUDA sessions are left as they are
 * @param maxBatch sequences decoded together in one decoder run per step; 1 = every generation decodes alone
 * @param kvCacheBudgetBytes bytes the batch's KV cache may take (both buffers, every sequence padded to the longest);
 *     0 = half the JVM's direct-memory limit, where the cache lives ({@code DirectMemory}). Requests wait for room; one
 *     that cannot fit alone is refused
 * @param profilePrefix when not empty, ONNX Runtime writes a per-operator profile of every session (Chrome trace JSON,
 *     {@code <prefix>_<timestamp>.json}) when the model closes; empty = off (the default: it slows every run)
 */
public record RuntimeOptions(
        ExecutionProvider executionProvider,
        int cudaDeviceId,
        int intraOpThreads,
        int interOpThreads,
        OptLevel optimizationLevel,
        boolean allowSpinning,
        long logitsBudgetBytes,
        int prefillChunkTokens,
        int q4AccuracyLevel,
        int maxBatch,
        long kvCacheBudgetBytes,
        String profilePrefix) {

    /**
     * Prompt tokens per prefill run when several sequences may decode together: the batch's decode steps run between
     * a joining prompt's runs, so this bounds how long they stall (about 15 s of the 4B shape on 2 Zen 4 cores). It is
     * llama.cpp's default physical batch ({@code n_ubatch}); a 1,024-token prompt read in runs of it took 28.2-30.0 s
     * against 27.3-30.0 s in one run (BENCHMARKS.md, "Scheduling prompts and steps"), and runs of 256 made the
     * {@code $summarize} benchmark slower on every measure.
     */
    public static final int BATCHED_PREFILL_CHUNK_TOKENS = 512;

    public RuntimeOptions {
        if (maxBatch < 1 || kvCacheBudgetBytes < 0) {
            throw new IllegalArgumentException("batch size must be >= 1 and the KV-cache budget >= 0, were " + maxBatch + " and " + kvCacheBudgetBytes);
        }
        if (q4AccuracyLevel < -1 || q4AccuracyLevel > 4) {
            throw new IllegalArgumentException("q4 accuracy level must be -1 (as exported) or 0-4, was " + q4AccuracyLevel);
        }
        profilePrefix = profilePrefix == null ? "" : profilePrefix;
        if (intraOpThreads < 0 || interOpThreads < 0 || prefillChunkTokens < 0 || logitsBudgetBytes < 1) {
            throw new IllegalArgumentException("thread counts and chunk sizes must not be negative");
        }
    }

    /**
     * CPU, ONNX Runtime's default threads, all graph optimisations, spinning on, 512 MiB of prefill logits, int8 compute
     * for 4-bit weights (accuracy level 4, as onnxruntime-genai's CPU builds and llama.cpp's Q4 x Q8 dot products do),
     * batches of up to 8 sequences, the KV-cache budget half the JVM's direct-memory limit.
     * The logits budget sets the prefill chunk of graphs without {@code num_logits_to_keep} (512 rows of Gemma's 262k
     * columns): every run of a q4 graph at the exported accuracy level dequantizes all weights once, so a 64-row chunk
     * made a 128-token prefill ~12% slower than one run (BENCHMARKS.md); transformers.js takes all rows at once.
     */
    public static RuntimeOptions defaults() {
        return new RuntimeOptions(ExecutionProvider.CPU, 0, 0, 0, OptLevel.ALL_OPT, true, 512L << 20, 0, 4, 8, 0, "");
    }

    public RuntimeOptions withExecutionProvider(ExecutionProvider ep) {
        return new RuntimeOptions(ep, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withCudaDevice(int device) {
        return new RuntimeOptions(executionProvider, device, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withThreads(int intraOp, int interOp) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOp, interOp, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withOptimizationLevel(OptLevel level) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, level, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withAllowSpinning(boolean spin) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, spin, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withPrefillChunkTokens(int tokens) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, tokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withLogitsBudgetBytes(long bytes) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, bytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withQ4AccuracyLevel(int level) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, level, maxBatch, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withMaxBatch(int rows) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, rows, kvCacheBudgetBytes, profilePrefix);
    }

    public RuntimeOptions withKvCacheBudgetBytes(long bytes) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, bytes, profilePrefix);
    }

    public RuntimeOptions withProfilePrefix(String prefix) {
        return new RuntimeOptions(executionProvider, cudaDeviceId, intraOpThreads, interOpThreads, optimizationLevel, allowSpinning, logitsBudgetBytes, prefillChunkTokens, q4AccuracyLevel, maxBatch, kvCacheBudgetBytes, prefix);
    }
}
