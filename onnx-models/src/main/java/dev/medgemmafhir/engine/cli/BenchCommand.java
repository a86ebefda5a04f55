package dev.medgemmafhir.engine.cli;

import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.bench.MemoryBandwidth;
import dev.medgemmafhir.engine.bench.ResidentMemory;
import dev.medgemmafhir.engine.bench.Roofline;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.ModelLoadException;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code bench}: prefill and decode speed at several prompt lengths, time to first token, peak
 * resident memory, and how close decoding comes to the memory-bandwidth roofline measured on the
 * same machine in the same run. Prompts are real token ids of a clinical filler text in the
 * model's chat format, cut to the exact length; decoding ignores end-of-sequence so every run does
 * the same work.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure prefill/decode tokens/s, time to first token, peak memory and the bandwidth roofline.")
final class BenchCommand implements java.util.concurrent.Callable<Integer> {

    private static final String FILLER = "Patient is a 67-year-old man admitted with community-acquired pneumonia. "
            + "Vitals stable on 2 L oxygen by nasal cannula; creatinine 1.2 mg/dL, white cell count 14.2. "
            + "Started on ceftriaxone and azithromycin; blood cultures pending; no known drug allergies. ";

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--prompt-lengths", split = ",", paramLabel = "N", defaultValue = "128,512,2048",
            description = "Prompt lengths in tokens. Default: ${DEFAULT-VALUE}.")
    List<Integer> promptLengths;

    @Option(names = "--decode-tokens", paramLabel = "N", defaultValue = "32",
            description = "Tokens decoded after each prompt. Default: ${DEFAULT-VALUE}.")
    int decodeTokens;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "1",
            description = "Untimed short runs (32-token prompt, 4 new tokens) before each length. Default: ${DEFAULT-VALUE}.")
    int warmup;

    @Option(names = "--runs", paramLabel = "N", defaultValue = "3", description = "Timed runs per length (median reported). Default: ${DEFAULT-VALUE}.")
    int runs;

    @Option(names = "--bandwidth-mib", paramLabel = "MIB", defaultValue = "1024",
            description = "Buffer streamed to measure memory bandwidth; 0 skips it. Default: ${DEFAULT-VALUE}.")
    int bandwidthMib;

    @Option(names = "--concurrency", split = ",", paramLabel = "N",
            description = "Concurrent requests (e.g. 1,2,4,8,16): measures batched decoding instead of single-stream speed; "
                    + "the batch size becomes the largest N.")
    List<Integer> concurrency;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (runs < 1 || warmup < 0 || decodeTokens < 2 || promptLengths.stream().anyMatch(n -> n < 2)
                || (concurrency != null && concurrency.stream().anyMatch(n -> n < 1))) {
            err.println("error: --runs >= 1, --warmup >= 0, --decode-tokens >= 2, prompt lengths >= 2 and --concurrency >= 1 are required");
            return 2;
        }
        boolean batched = concurrency != null && !concurrency.isEmpty();
        int threads = modelOptions.threads > 0 ? modelOptions.threads : Runtime.getRuntime().availableProcessors();
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode report = mapper.createObjectNode();
        ObjectNode machine = report.putObject("machine");
        machine.put("cpu", cpuModel());
        machine.put("cpu_flags", cpuFlags());
        machine.put("logical_cpus", Runtime.getRuntime().availableProcessors());
        machine.put("load_average_1m", loadAverage());
        // Measured before the model loads, while the memory system is otherwise idle.
        double bandwidth = bandwidthMib > 0 ? MemoryBandwidth.measure((long) bandwidthMib << 20, threads, 5) : 0;
        machine.put("memory_bandwidth_bytes_per_s", bandwidth);
        machine.put("bandwidth_threads", threads);

        long t0 = System.nanoTime();
        RuntimeOptions options = modelOptions.runtime();
        if (batched) {
            options = options.withMaxBatch(Math.max(options.maxBatch(), concurrency.stream().mapToInt(Integer::intValue).max().orElse(1)));
        }
        try (MedGemmaModel model = modelOptions.load(options)) {
            double loadMs = (System.nanoTime() - t0) / 1e6;
            GraphSignatures.Decoder sig = model.decoderSignature();
            Roofline roofline = Roofline.of(decoderWeightBytes(model, sig), sig);
            report.put("model", model.identity().modelId());
            report.put("variant", model.variant());
            report.put("execution_provider", model.executionProvider().name());
            // The runtime that actually loaded (a jar earlier on the class path can replace the project's).
            report.put("onnxruntime_version", OrtEnvironment.getEnvironment().getVersion());
            report.put("intra_op_threads", modelOptions.threads);
            report.put("load_ms", loadMs);
            report.put("weight_bytes_per_token", roofline.weightBytes());
            report.put("kv_cache_bytes_per_context_token", roofline.kvBytesPerToken());
            report.put("decode_tokens", decodeTokens);
            report.put("warmup_runs", warmup);
            report.put("timed_runs", runs);
            report.put("max_batch", model.maxBatch());
            int[] source = fillerIds(model, promptLengths.stream().mapToInt(Integer::intValue).max().orElse(2));
            if (batched) {
                ConcurrencyBench.run(model, source, promptLengths, concurrency, decodeTokens, warmup, runs, report.putArray("concurrency"),
                        roofline, json ? null : err);
                report.put("peak_resident_bytes", ResidentMemory.peakBytes());
            }
            ArrayNode lengths = report.putArray("lengths");
            for (int n : batched ? List.<Integer>of() : promptLengths) {
                if (n + decodeTokens > model.contextLength()) {
                    throw new InvalidInputException(n + " prompt + " + decodeTokens + " new tokens exceed the context of " + model.contextLength());
                }
                int[] prompt = Arrays.copyOf(source, n);
                GenerationParams params = GenerationParams.greedy(decodeTokens);
                // A short warm-up maps the weights in and starts the threads without costing a full-length run.
                for (int i = 0; i < warmup; i++) {
                    model.generateTokens(Arrays.copyOf(source, Math.min(32, n)), GenerationParams.greedy(4), false, Cancellation.none());
                }
                double[] prefillMs = new double[runs];
                double[] decodeTps = new double[runs];
                for (int i = 0; i < runs; i++) {
                    GenerationResult r = model.generateTokens(prompt, params, false, Cancellation.none());
                    prefillMs[i] = r.prefillMillis();
                    decodeTps[i] = r.decodeTokensPerSecond();
                }
                double ttft = median(prefillMs);
                double decode = median(decodeTps);
                // The mean cache length over the timed decode steps.
                double context = n + decodeTokens / 2.0;
                ObjectNode o = lengths.addObject();
                o.put("prompt_tokens", n);
                o.put("prefill_tokens_per_s", n * 1000.0 / ttft);
                o.put("time_to_first_token_ms", ttft);
                o.put("decode_tokens_per_s", decode);
                o.put("bytes_per_decoded_token", roofline.bytesPerToken(context));
                if (bandwidth > 0) {
                    double ceiling = roofline.tokensPerSecond(bandwidth, context);
                    o.put("roofline_decode_tokens_per_s", ceiling);
                    o.put("roofline_fraction", decode / ceiling);
                }
                o.set("prefill_ms_runs", mapper.valueToTree(prefillMs));
                o.set("decode_tokens_per_s_runs", mapper.valueToTree(decodeTps));
                o.put("peak_resident_bytes_so_far", ResidentMemory.peakBytes());
                if (!json) {
                    err.printf(Locale.ROOT, "  %5d tokens: prefill %.1f tok/s, ttft %.0f ms, decode %.2f tok/s%n", n, n * 1000.0 / ttft, ttft, decode);
                    err.flush();
                }
            }
            report.put("peak_resident_bytes", ResidentMemory.peakBytes());
            report.put("peak_kv_cache_bytes", model.peakKvCacheBytes());
        } catch (InvalidInputException | IllegalArgumentException | ModelLoadException e) {
            err.println("error: " + e.getMessage());
            return 2;
        } catch (EngineException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
        if (json) {
            out.println(report.toString());
        } else {
            printTable(report, out);
        }
        out.flush();
        return 0;
    }

    /**
     * Weight bytes one decode step streams: the decoder's graph files, minus the embedding table
     * when the decoder embeds its own ids (it gathers one row of it per token). The table's element
     * size follows the variant: the real q4 and fp32 exports keep it fp32.
     */
    private static long decoderWeightBytes(MedGemmaModel model, GraphSignatures.Decoder sig) {
        long bytes = 0;
        Path decoder = model.graphFiles().decoder();
        List<Path> files = new ArrayList<>(model.graphFiles().allFiles());
        for (Path f : files) {
            if (f.equals(decoder) || f.getFileName().toString().startsWith(decoder.getFileName().toString())) {
                try {
                    bytes += Files.size(f);
                } catch (IOException e) {
                    // an unreadable size only makes the estimate smaller
                }
            }
        }
        Integer hidden = model.config().hiddenSize();
        if (!sig.takesEmbeds() && hidden != null && sig.vocab() > 0) {
            int elem = switch (model.variant()) {
                case "fp16", "q4f16" -> 2;
                case "int8", "uint8", "quantized" -> 1;
                default -> 4;
            };
            bytes = Math.max(0, bytes - sig.vocab() * hidden * elem);
        }
        return bytes;
    }

    /** Token ids of the filler text in the chat format, repeated to at least {@code n}. */
    private static int[] fillerIds(MedGemmaModel model, int n) {
        StringBuilder text = new StringBuilder();
        int[] ids = new int[0];
        while (ids.length < n) {
            text.append(FILLER.repeat(Math.max(1, (n - ids.length) / 16 + 1)));
            ids = model.promptTokenIds(List.of(ChatMessage.user(text.toString())));
        }
        return ids;
    }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int m = s.length / 2;
        return s.length % 2 == 1 ? s[m] : (s[m - 1] + s[m]) / 2;
    }

    private static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall through
        }
        return System.getProperty("os.arch");
    }

    /** The vector-instruction flags of /proc/cpuinfo that decide which kernels ONNX Runtime uses. */
    private static String cpuFlags() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    List<String> kept = new ArrayList<>();
                    for (String f : line.substring(line.indexOf(':') + 1).trim().split("\\s+")) {
                        if (f.startsWith("avx") || f.startsWith("amx") || f.equals("fma") || f.equals("f16c")) {
                            kept.add(f);
                        }
                    }
                    return String.join(" ", kept);
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return "";
    }

    private static double loadAverage() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static void printTable(ObjectNode r, PrintWriter out) {
        ObjectNode m = (ObjectNode) r.get("machine");
        out.printf(Locale.ROOT, "%s, variant %s on %s (ONNX Runtime %s); %s, %d logical CPUs, load %.2f%n", r.get("model").asText(),
                r.get("variant").asText(), r.get("execution_provider").asText(), r.get("onnxruntime_version").asText(), m.get("cpu").asText(),
                m.get("logical_cpus").asInt(), m.get("load_average_1m").asDouble());
        double bw = m.get("memory_bandwidth_bytes_per_s").asDouble();
        out.printf(Locale.ROOT, "memory bandwidth %.1f GB/s (%d threads); weights read per token %.2f GB; KV cache %.1f KiB per context token%n",
                bw / 1e9, m.get("bandwidth_threads").asInt(), r.get("weight_bytes_per_token").asLong() / 1e9,
                r.get("kv_cache_bytes_per_context_token").asLong() / 1024.0);
        if (r.has("concurrency")) {
            ConcurrencyBench.printTable(r, out);
            return;
        }
        out.printf(Locale.ROOT, "%8s %12s %10s %12s %12s %9s%n", "prompt", "prefill t/s", "ttft ms", "decode t/s", "roofline t/s", "fraction");
        for (var l : r.get("lengths")) {
            out.printf(Locale.ROOT, "%8d %12.1f %10.0f %12.2f %12.2f %8.0f%%%n", l.get("prompt_tokens").asInt(),
                    l.get("prefill_tokens_per_s").asDouble(), l.get("time_to_first_token_ms").asDouble(), l.get("decode_tokens_per_s").asDouble(),
                    l.path("roofline_decode_tokens_per_s").asDouble(), 100 * l.path("roofline_fraction").asDouble());
        }
        out.printf(Locale.ROOT, "peak resident memory %.2f GB (KV cache %.2f GB); load %.1f s; %d decoded tokens per run, median of %d runs after %d warm-up%n",
                r.get("peak_resident_bytes").asLong() / 1e9, r.path("peak_kv_cache_bytes").asLong() / 1e9, r.get("load_ms").asDouble() / 1000,
                r.get("decode_tokens").asInt(),
                r.get("timed_runs").asInt(), r.get("warmup_runs").asInt());
    }
}
