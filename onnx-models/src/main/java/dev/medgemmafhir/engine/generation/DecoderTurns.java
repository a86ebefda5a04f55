package dev.medgemmafhir.engine.generation;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.EngineException;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Who runs a batched model's decoder next: the batch's decode steps, or a prefill run (one chunk of a prompt) of a
 * generation about to join it. One run at a time, by these rules (the first two are vLLM's chunked prefill):
 * <ul>
 * <li>prompts are read earliest first: a prefill's runs wait until every prefill that began before it has ended, so
 * the first caller's first token comes after its own prompt, not after every prompt that arrived with it;</li>
 * <li>the batch steps between a prompt's runs: after a prefill run the batch's step goes, after a step the prompt's
 * next run, so the sequences already decoding stream a token per chunk while a prompt is read;</li>
 * <li>a prefill's last run hands the decoder to the batch, so the sequence it read gets its next token before the next
 * prompt's run (withdrawn when the sequence ends without joining: its first token ended it, or it was cancelled);</li>
 * <li>a batch about to lose a sequence finishes it first: while the nearest end in the batch is at most a quarter of
 * the waiting prompt's next run away (remaining steps x the step time, against the run's tokens x the time per prompt
 * token, both as measured), steps go on. Otherwise a sequence a few tokens from its end waits a whole prompt run per
 * token (BENCHMARKS.md, "Scheduling prompts and steps").</li>
 * </ul>
 * The batch steps freely while no prompt waits, and a prompt runs at once while the batch has nothing to step.
 */
final class DecoderTurns {

    /**
     * How long a prompt holds back for the batch's step when it is the batch's turn but the batch has not asked yet (its
     * sequences are sampling their tokens; a step asks within milliseconds).
     */
    static final long STEP_GRACE_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    /** How long a prefill's hand-over waits for the joining sequence's first step (it samples its first token first). */
    static final long HANDOVER_NANOS = TimeUnit.SECONDS.toNanos(1);
    /** The batch finishes a sequence first when that takes at most this fraction of the waiting prompt's next run. */
    static final int NEAR_END_FRACTION = 4;
    /** How often a waiting prefill looks at its cancellation. */
    private static final long CANCEL_POLL_MILLIS = 100;

    private final LongSupplier clock;
    private final Object lock = new Object();
    /** Prefills in progress, by the order they began. */
    private final TreeSet<Long> prefills = new TreeSet<>();
    /** Those of them waiting for a run now, with the prompt tokens of that run. */
    private final Map<Long, Integer> waiting = new HashMap<>();
    private long nextTicket;
    private boolean busy;
    private int runTokens;
    private long runStart;
    /** The latest run (in progress or ended) is a step; read only while none is in progress. */
    private boolean lastWasStep;
    private boolean stepWaiting;
    /** Steps until the batch's nearest sequence ends, as the batch last said; MAX while it has none. */
    private int nearestEndSteps = Integer.MAX_VALUE;
    /** Measured: the last step's nanoseconds; 0 = none yet. */
    private long stepNanos;
    /**
     * Measured: prefill runs' nanoseconds and prompt tokens, older runs weighing half as much at each run; their ratio is
     * the time per prompt token. Summed, not averaged per run: a short run (a prompt's last few tokens) costs more per
     * token (it reads every weight once for a few tokens), and taking its rate alone overrated the next long run.
     */
    private double prefillNanos;
    private double prefillTokens;
    private long lastRunEnd = Long.MIN_VALUE / 2;
    /** Until when only a step may start (a prefill's last run handed over). */
    private long handoverUntil = Long.MIN_VALUE / 2;
    /** The prefill whose hand-over that is. */
    private long handoverTicket = -1;

    DecoderTurns() {
        this(System::nanoTime);
    }

    /** With another clock, for tests of the timing rules. */
    DecoderTurns(LongSupplier clock) {
        this.clock = clock;
    }

    /** A prefill begins; its runs go after those of prefills that began before it. Close it when the prefill ends. */
    Prefill beginPrefill() {
        synchronized (lock) {
            long ticket = nextTicket++;
            prefills.add(ticket);
            return new Prefill(ticket);
        }
    }

    /** One generation's prefill, from its first run to its last. */
    final class Prefill implements AutoCloseable {
        private final long ticket;

        private Prefill(long ticket) {
            this.ticket = ticket;
        }

        /**
         * Waits for this prefill's next run. End it with {@link DecoderTurns#release()}, or with {@link #handOver()}
         * when it was the last.
         *
         * @param tokens prompt tokens the run reads (0 for a run that reads none, e.g. the vision encoder's)
         * @return false when cancelled while waiting (nothing is held)
         */
        boolean acquire(Cancellation cancellation, int tokens) {
            synchronized (lock) {
                if (!prefills.contains(ticket)) {
                    throw new IllegalStateException("prefill has ended");
                }
                waiting.put(ticket, tokens);
                try {
                    while (true) {
                        long wait = prefillWait(ticket);
                        if (wait == 0) {
                            break;
                        }
                        if (cancellation.isCancelled()) {
                            return false;
                        }
                        waitQuietly(Math.min(CANCEL_POLL_MILLIS, Math.max(1, TimeUnit.NANOSECONDS.toMillis(wait))));
                    }
                    start(false, tokens);
                    return true;
                } finally {
                    waiting.remove(ticket);
                }
            }
        }

        /** Ends this prefill's last run: the next run is the batch's step (for up to {@link #HANDOVER_NANOS}). */
        void handOver() {
            synchronized (lock) {
                end();
                handoverUntil = clock.getAsLong() + HANDOVER_NANOS;
                handoverTicket = ticket;
            }
        }

        /** The sequence ends without joining the batch (its first token ended it, or it was cancelled): no hand-over. */
        void withdrawHandOver() {
            synchronized (lock) {
                if (handoverTicket == ticket) {
                    handoverUntil = Long.MIN_VALUE / 2;
                    handoverTicket = -1;
                    lock.notifyAll();
                }
            }
        }

        @Override
        public void close() {
            synchronized (lock) {
                if (prefills.remove(ticket)) {
                    lock.notifyAll();
                }
            }
        }
    }

    /**
     * Nanoseconds the prefill {@code ticket} should wait before it may run: 0 = now; otherwise a bound for a timed wait
     * ({@link Long#MAX_VALUE} while another run, an earlier prefill or a waiting step goes first).
     */
    private long prefillWait(long ticket) {
        if (busy || prefills.first() != ticket) {
            return Long.MAX_VALUE;
        }
        long now = clock.getAsLong();
        if (now < handoverUntil) {
            return stepWaiting ? Long.MAX_VALUE : handoverUntil - now;
        }
        // The batch's turn: after a prefill run, or while it is near a sequence's end.
        boolean owed = !lastWasStep || batchNearEnd(waiting.get(ticket));
        if (owed && stepWaiting) {
            return Long.MAX_VALUE;
        }
        if (owed && nearestEndSteps != Integer.MAX_VALUE && now - lastRunEnd < STEP_GRACE_NANOS) {
            return lastRunEnd + STEP_GRACE_NANOS - now; // the batch has sequences; its step is on the way
        }
        return 0;
    }

    /** Whether finishing the batch's nearest sequence takes at most a fraction of a prompt run of {@code tokens}. */
    private boolean batchNearEnd(int tokens) {
        if (nearestEndSteps == Integer.MAX_VALUE || stepNanos == 0 || prefillTokens == 0) {
            return false;
        }
        return (double) nearestEndSteps * stepNanos <= tokens * (prefillNanos / prefillTokens) / NEAR_END_FRACTION;
    }

    /**
     * Waits for the batch's next step: it goes after a prefill run, while no prompt waits, and while the batch is near
     * a sequence's end; after a step, a waiting prompt's run goes first.
     *
     * @param nearestEnd steps until the batch's nearest sequence reaches its token limit
     */
    void acquireStep(int nearestEnd) {
        synchronized (lock) {
            nearestEndSteps = Math.max(1, nearestEnd);
            stepWaiting = true;
            try {
                while (busy || (lastWasStep && earliestPrefillWaiting() && clock.getAsLong() >= handoverUntil
                        && !batchNearEnd(waiting.get(prefills.first())))) {
                    waitQuietly(0);
                }
                start(true, 0);
            } finally {
                stepWaiting = false;
            }
        }
    }

    /** The batch has no sequence left: nothing is near its end. */
    void batchEmpty() {
        synchronized (lock) {
            nearestEndSteps = Integer.MAX_VALUE;
            lock.notifyAll();
        }
    }

    /** Ends a run (a step or a prefill run). */
    void release() {
        synchronized (lock) {
            end();
        }
    }

    private void start(boolean step, int tokens) {
        busy = true;
        lastWasStep = step;
        runTokens = tokens;
        runStart = clock.getAsLong();
        if (step) {
            handoverUntil = Long.MIN_VALUE / 2;
            handoverTicket = -1;
        }
    }

    private void end() {
        if (!busy) {
            throw new IllegalStateException("no decoder run is in progress");
        }
        long now = clock.getAsLong();
        long took = now - runStart;
        if (lastWasStep) {
            stepNanos = Math.max(1, took);
            nearestEndSteps = nearestEndSteps == Integer.MAX_VALUE ? nearestEndSteps : nearestEndSteps - 1;
        } else if (runTokens > 0) {
            prefillNanos = prefillNanos / 2 + took;
            prefillTokens = prefillTokens / 2 + runTokens;
        }
        lastRunEnd = now;
        busy = false;
        lock.notifyAll();
    }

    private boolean earliestPrefillWaiting() {
        return !prefills.isEmpty() && waiting.containsKey(prefills.first());
    }

    private void waitQuietly(long millis) {
        try {
            lock.wait(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EngineException("interrupted while waiting for the decoder", e);
        }
    }
}
