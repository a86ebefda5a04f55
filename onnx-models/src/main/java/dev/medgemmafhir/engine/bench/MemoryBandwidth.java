package dev.medgemmafhir.engine.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Measures how fast this machine streams memory into the CPU: several threads each sum their own
 * slice of one large direct buffer (far larger than the caches), in passes; the best pass counts.
 * Decoding one token reads every weight once, so this number is the ceiling decode speed answers to.
 */
public final class MemoryBandwidth {

    private MemoryBandwidth() {
    }

    /** Sink for the sums so the JIT cannot drop the reads. */
    private static final AtomicLong SINK = new AtomicLong();

    /**
     * @param bytes buffer size (use several times the last-level cache)
     * @param threads reader threads (the cores the model runs on)
     * @param passes timed passes; the fastest one is returned
     * @return bytes per second
     */
    public static double measure(long bytes, int threads, int passes) {
        int perThread = (int) Math.min(Integer.MAX_VALUE / 8, bytes / 8 / threads);
        List<LongBuffer> slices = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            LongBuffer b = ByteBuffer.allocateDirect(perThread * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
            for (int i = 0; i < perThread; i++) {
                b.put(i, i * 0x9E3779B97F4A7C15L);
            }
            slices.add(b);
        }
        // Warm the JIT on the loop before timing it.
        for (LongBuffer b : slices) {
            SINK.addAndGet(sum(b));
        }
        double best = 0;
        for (int p = 0; p < passes; p++) {
            CyclicBarrier start = new CyclicBarrier(threads + 1);
            CyclicBarrier end = new CyclicBarrier(threads + 1);
            List<Thread> workers = new ArrayList<>();
            for (LongBuffer b : slices) {
                Thread w = new Thread(() -> {
                    try {
                        start.await();
                        SINK.addAndGet(sum(b));
                        end.await();
                    } catch (Exception e) {
                        Thread.currentThread().interrupt();
                    }
                }, "bandwidth-reader");
                w.setDaemon(true);
                w.start();
                workers.add(w);
            }
            try {
                start.await();
                long t0 = System.nanoTime();
                end.await();
                long ns = System.nanoTime() - t0;
                best = Math.max(best, (double) perThread * 8 * threads / (ns / 1e9));
                for (Thread w : workers) {
                    w.join();
                }
            } catch (Exception e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("bandwidth measurement interrupted", e);
            }
        }
        return best;
    }

    /** Four independent accumulators so the loads, not the adds, set the pace. */
    private static long sum(LongBuffer b) {
        long a0 = 0;
        long a1 = 0;
        long a2 = 0;
        long a3 = 0;
        int n = b.limit() & ~3;
        for (int i = 0; i < n; i += 4) {
            a0 += b.get(i);
            a1 += b.get(i + 1);
            a2 += b.get(i + 2);
            a3 += b.get(i + 3);
        }
        return a0 ^ a1 ^ a2 ^ a3;
    }
}
