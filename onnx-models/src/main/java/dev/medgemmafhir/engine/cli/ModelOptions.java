package dev.medgemmafhir.engine.cli;

import ai.onnxruntime.OrtSession.SessionOptions.OptLevel;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.model.ExecutionProvider;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** Options every command that loads a model shares. */
final class ModelOptions {

    @Option(names = {"--model", "--model-dir"}, required = true, paramLabel = "DIR", description = "Model directory (a Hugging Face snapshot of an ONNX export).")
    Path model;

    @Option(names = "--dtype", paramLabel = "VARIANT",
            description = "Quantization variant: fp32, fp16, q4, q4f16, int8, uint8, quantized, bnb4 (default: the best present).")
    String dtype;

    @Option(names = "--provider", paramLabel = "EP", defaultValue = "cpu",
            description = "Execution provider: cpu or cuda (falls back to cpu with a warning). Default: ${DEFAULT-VALUE}.")
    String provider;

    @Option(names = "--cuda-device", paramLabel = "N", defaultValue = "0", description = "CUDA device id. Default: ${DEFAULT-VALUE}.")
    int cudaDevice;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Intra-op threads; 0 = ONNX Runtime's default.")
    int threads;

    @Option(names = "--no-spinning", description = "Let idle ONNX Runtime threads sleep instead of spinning.")
    boolean noSpinning;

    @Option(names = "--optimization", paramLabel = "LEVEL", defaultValue = "ALL_OPT",
            description = "Graph optimisation: NO_OPT, BASIC_OPT, EXTENDED_OPT, ALL_OPT. Default: ${DEFAULT-VALUE}.")
    OptLevel optimization;

    @Option(names = "--q4-accuracy-level", paramLabel = "N", defaultValue = "4",
            description = "MatMulNBits accuracy_level for 4-bit graphs on CPU: 4 = int8 compute (default, faster), -1 = as exported.")
    int q4AccuracyLevel;

    @Option(names = "--prefill-chunk", paramLabel = "N", defaultValue = "0",
            description = "Prompt tokens per prefill run; 0 = the default: at most 512 when --max-batch > 1 (the batch steps between runs), at most what the logits budget allows, one sliding window on converted graphs.")
    int prefillChunk;

    @Option(names = "--max-batch", paramLabel = "N", defaultValue = "8",
            description = "Concurrent generations decoded together in one run per step; 1 = each decodes alone. Default: ${DEFAULT-VALUE}.")
    int maxBatch;

    @Option(names = "--kv-cache-budget", paramLabel = "BYTES", defaultValue = "0",
            description = "Bytes the batch's KV cache may take; 0 = half the JVM's direct-memory limit (default).")
    long kvCacheBudget;

    @Option(names = "--profile", paramLabel = "PREFIX", defaultValue = "",
            description = "Write ONNX Runtime's per-operator profile of each session to PREFIX_<time>.json when the model closes (slows every run).")
    String profile;

    RuntimeOptions runtime() {
        ExecutionProvider ep = switch (provider.toLowerCase(java.util.Locale.ROOT)) {
            case "cpu" -> ExecutionProvider.CPU;
            case "cuda", "gpu" -> ExecutionProvider.CUDA;
            default -> throw new IllegalArgumentException("--provider must be cpu or cuda, was " + provider);
        };
        return RuntimeOptions.defaults()
                .withExecutionProvider(ep)
                .withCudaDevice(cudaDevice)
                .withThreads(threads, 0)
                .withAllowSpinning(!noSpinning)
                .withOptimizationLevel(optimization)
                .withQ4AccuracyLevel(q4AccuracyLevel)
                .withPrefillChunkTokens(prefillChunk)
                .withMaxBatch(maxBatch)
                .withKvCacheBudgetBytes(kvCacheBudget)
                .withProfilePrefix(profile);
    }

    MedGemmaModel load() {
        return load(runtime());
    }

    MedGemmaModel load(RuntimeOptions options) {
        return MedGemmaModel.load(model, dtype, options);
    }
}
