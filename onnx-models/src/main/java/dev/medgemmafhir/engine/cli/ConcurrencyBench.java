package dev.medgemmafhir.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.bench.ResidentMemory;
import dev.medgemmafhir.engine.bench.Roofline;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * {@code bench --concurrency}: N requests at once on one model, each decoding the same number of
 * tokens. The engine's own step counters give the aggregate decode speed of steps that ran with
 * exactly N sequences (prefills, which take turns with the steps, are not in it); the wall clock
 * gives the end-to-end rate, prefills included. Concurrency levels run in the given order, so the
 * peak resident memory after each level only grows; the increase over the first level divided by
 * the extra requests is the memory one more concurrent request costs.
 */
final class ConcurrencyBench {

    private ConcurrencyBench() {
    }

    static void run(MedGemmaModel model, int[] source, List<Integer> promptLengths, List<Integer> levels, int decodeTokens, int warmup,
                    int runs, ArrayNode out, Roofline roofline, PrintWriter progress) {
        long firstPeak = -1;
        int firstLevel = 0;
        double singleDecode = 0;
        for (int n : promptLengths) {
            if (n + decodeTokens > model.contextLength()) {
                throw new InvalidInputException(n + " prompt + " + decodeTokens + " new tokens exceed the context of " + model.contextLength());
            }
            int[] prompt = Arrays.copyOf(source, n);
            singleDecode = 0;
            for (int level : levels) {
                for (int i = 0; i < warmup; i++) {
                    concurrently(model, Arrays.copyOf(source, Math.min(32, n)), 4, level);
                }
                double[] batchedDecode = new double[runs];
                double[] wallRate = new double[runs];
                double[] ttftMedian = new double[runs];
                double[] ttftMax = new double[runs];
                long[] steps = new long[runs];
                long[][] levelStart = model.batchStatistics();
                for (int r = 0; r < runs; r++) {
                    long[][] before = model.batchStatistics();
                    long t0 = System.nanoTime();
                    List<GenerationResult> results = concurrently(model, prompt, decodeTokens, level);
                    double wallSeconds = (System.nanoTime() - t0) / 1e9;
                    long[][] after = model.batchStatistics();
                    int row = Math.min(level, after[0].length - 1);
                    long fullSteps = row < 0 ? 0 : after[0][row] - before[0][row];
                    long fullNanos = row < 0 ? 0 : after[1][row] - before[1][row];
                    steps[r] = fullSteps;
                    batchedDecode[r] = fullSteps == 0 ? 0 : level * fullSteps * 1e9 / fullNanos;
                    long tokens = 0;
                    double[] ttft = new double[results.size()];
                    for (int i = 0; i < results.size(); i++) {
                        tokens += results.get(i).generatedTokenIds().length;
                        ttft[i] = results.get(i).prefillMillis();
                    }
                    wallRate[r] = tokens / wallSeconds;
                    ttftMedian[r] = BenchCommand.median(ttft);
                    ttftMax[r] = Arrays.stream(ttft).max().orElse(0);
                }
                long[][] stepsSeen = model.batchStatistics();
                for (int k = 0; k < 2; k++) {
                    for (int size = 0; size < stepsSeen[k].length; size++) {
                        stepsSeen[k][size] -= levelStart[k][size];
                    }
                }
                long peak = ResidentMemory.peakBytes();
                if (firstPeak < 0) {
                    firstPeak = peak;
                    firstLevel = level;
                }
                double decode = BenchCommand.median(batchedDecode);
                if (level == 1) {
                    singleDecode = decode;
                }
                ObjectNode o = out.addObject();
                o.put("prompt_tokens", n);
                o.put("concurrency", level);
                o.put("decode_tokens_per_s", decode);
                o.put("decode_tokens_per_s_per_request", decode / level);
                if (singleDecode > 0) {
                    o.put("decode_speedup_vs_one", decode / singleDecode);
                }
                o.put("steps_with_all_requests", BenchCommand.median(Arrays.stream(steps).asDoubleStream().toArray()));
                o.put("end_to_end_tokens_per_s", BenchCommand.median(wallRate));
                o.put("time_to_first_token_ms_median", BenchCommand.median(ttftMedian));
                o.put("time_to_first_token_ms_max", BenchCommand.median(ttftMax));
                o.put("kv_cache_bytes_per_request", (n + decodeTokens) * roofline.kvBytesPerToken());
                o.put("peak_resident_bytes_so_far", peak);
                if (level > firstLevel) {
                    o.put("peak_resident_bytes_per_extra_request", (peak - firstPeak) / (double) (level - firstLevel));
                }
                // Every step of the level, by how many sequences it ran: joins and leaves pass through the smaller sizes.
                ObjectNode bySize = o.putObject("decode_tokens_per_s_by_batch_size");
                for (int size = 1; size < stepsSeen[0].length; size++) {
                    if (stepsSeen[0][size] > 0) {
                        bySize.put(String.valueOf(size), size * stepsSeen[0][size] * 1e9 / stepsSeen[1][size]);
                    }
                }
                o.set("decode_tokens_per_s_runs", out.arrayNode().addAll(Arrays.stream(batchedDecode).mapToObj(out::numberNode).toList()));
                if (progress != null) {
                    progress.printf(Locale.ROOT, "  %5d tokens x %2d requests: decode %.2f tok/s (%.2f each), end to end %.2f tok/s, ttft p50 %.0f ms%n",
                            n, level, decode, decode / level, BenchCommand.median(wallRate), BenchCommand.median(ttftMedian));
                    progress.flush();
                }
            }
        }
    }

    private static List<GenerationResult> concurrently(MedGemmaModel model, int[] prompt, int tokens, int level) {
        ExecutorService pool = Executors.newFixedThreadPool(level);
        try {
            List<Future<GenerationResult>> futures = new ArrayList<>();
            for (int i = 0; i < level; i++) {
                futures.add(pool.submit(() -> model.generateTokens(prompt, GenerationParams.greedy(tokens), false, Cancellation.none())));
            }
            List<GenerationResult> results = new ArrayList<>();
            for (Future<GenerationResult> f : futures) {
                results.add(f.get());
            }
            return results;
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new EngineException("a benchmark request failed: " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EngineException("interrupted", e);
        } finally {
            pool.shutdownNow();
        }
    }

    static void printTable(JsonNode r, PrintWriter out) {
        out.printf(Locale.ROOT, "batch size %d; decode t/s counts the steps that ran all N requests together%n", r.get("max_batch").asInt());
        out.printf(Locale.ROOT, "%8s %6s %12s %10s %9s %14s %12s %14s%n", "prompt", "N", "decode t/s", "each t/s", "vs N=1",
                "end-to-end t/s", "ttft p50 ms", "RSS/extra req");
        for (JsonNode l : r.get("concurrency")) {
            out.printf(Locale.ROOT, "%8d %6d %12.2f %10.2f %9s %14.2f %12.0f %14s%n", l.get("prompt_tokens").asInt(), l.get("concurrency").asInt(),
                    l.get("decode_tokens_per_s").asDouble(), l.get("decode_tokens_per_s_per_request").asDouble(),
                    l.has("decode_speedup_vs_one") ? String.format(Locale.ROOT, "%.2fx", l.get("decode_speedup_vs_one").asDouble()) : "-",
                    l.get("end_to_end_tokens_per_s").asDouble(), l.get("time_to_first_token_ms_median").asDouble(),
                    l.has("peak_resident_bytes_per_extra_request")
                            ? String.format(Locale.ROOT, "%.0f MB", l.get("peak_resident_bytes_per_extra_request").asDouble() / 1e6) : "-");
        }
        out.printf(Locale.ROOT, "peak resident memory %.2f GB; load %.1f s; %d decoded tokens per request, median of %d runs after %d warm-up%n",
                r.get("peak_resident_bytes").asLong() / 1e9, r.get("load_ms").asDouble() / 1000, r.get("decode_tokens").asInt(),
                r.get("timed_runs").asInt(), r.get("warmup_runs").asInt());
    }
}
