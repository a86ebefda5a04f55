package dev.medgemmafhir.engine.generation;

import dev.medgemmafhir.engine.Cancellation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The order of a batched model's decoder runs: earliest prompt first, the decoder's time shared evenly between the
 * batch's steps and the prompt being read, and a prompt's last run handed to the batch. A clock the test moves stands
 * for the runs' durations.
 */
@Timeout(60) // a run that never comes fails the test instead of hanging the build
class DecoderTurnsTest {

    private final AtomicLong clock = new AtomicLong();
    private final DecoderTurns turns = new DecoderTurns(clock::get);
    private final List<String> order = new CopyOnWriteArrayList<>();

    /** Runs {@code body} on a thread and returns once that thread waits (in a turn) or has ended. */
    private Thread waitingThread(Runnable body) throws InterruptedException {
        Thread t = new Thread(body);
        t.setDaemon(true);
        t.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (t.isAlive() && t.getState() != Thread.State.WAITING && t.getState() != Thread.State.TIMED_WAITING) {
            assertTrue(System.nanoTime() < deadline, "thread neither waited nor ended");
            Thread.sleep(1);
        }
        return t;
    }

    /** A run of {@code tokens} of {@code prompt} on its own thread, noted as {@code name} in {@link #order} once it runs. */
    private Thread promptRun(DecoderTurns.Prefill prompt, int tokens, String name) throws InterruptedException {
        return waitingThread(() -> {
            if (prompt.acquire(Cancellation.none(), tokens)) {
                order.add(name);
                turns.release();
            }
        });
    }

    private static void joinQuietly(Thread t) throws InterruptedException {
        t.join(TimeUnit.SECONDS.toMillis(30));
        assertFalse(t.isAlive(), "thread still waiting");
    }

    @Test
    void aLaterPromptWaitsForTheEarlierOnesWholePrefillEvenWhenTheDecoderIsFree() throws Exception {
        DecoderTurns.Prefill first = turns.beginPrefill();
        DecoderTurns.Prefill second = turns.beginPrefill();
        Thread later = promptRun(second, 8, "second");
        // Nothing runs, yet the later prompt waits: the earlier one is between two of its runs.
        Thread.sleep(250);
        assertTrue(later.isAlive(), "the later prompt ran before the earlier one's prefill ended");
        for (int run = 0; run < 3; run++) {
            assertTrue(first.acquire(Cancellation.none(), 8));
            order.add("first");
            turns.release();
        }
        assertTrue(later.isAlive(), "the later prompt ran between the earlier one's runs");
        first.close();
        joinQuietly(later);
        second.close();
        assertEquals(List.of("first", "first", "first", "second"), order);
    }

    @Test
    void aWaitingStepGoesBetweenTwoRunsOfAPrompt() throws Exception {
        DecoderTurns.Prefill prompt = turns.beginPrefill();
        assertTrue(prompt.acquire(Cancellation.none(), 8));
        Thread batch = waitingThread(() -> {
            turns.acquireStep(100);
            order.add("step");
            turns.release();
        });
        turns.release();
        assertTrue(prompt.acquire(Cancellation.none(), 8));
        order.add("prompt");
        turns.release();
        joinQuietly(batch);
        prompt.close();
        assertEquals(List.of("step", "prompt"), order);
    }

    @Test
    void afterAStepTheWaitingPromptGoesBeforeTheNextStep() throws Exception {
        DecoderTurns.Prefill prompt = turns.beginPrefill();
        turns.acquireStep(100);
        Thread reader = promptRun(prompt, 8, "prompt");
        turns.release();
        turns.acquireStep(100);
        order.add("step");
        turns.release();
        joinQuietly(reader);
        prompt.close();
        assertEquals(List.of("prompt", "step"), order);
    }

    @Test
    void stepsRunBackToBackWhileNoPromptWaits() {
        DecoderTurns.Prefill between = turns.beginPrefill(); // begun, but preparing its next run, not waiting
        for (int i = 0; i < 3; i++) {
            turns.acquireStep(100);
            turns.release();
        }
        between.close();
        assertThrows(IllegalStateException.class, turns::release, "released a run that was not held");
    }

    @Test
    void aCancelledPromptStopsWaitingHoldingNothingAndAnEndedOneLetsTheNextRun() throws Exception {
        DecoderTurns.Prefill first = turns.beginPrefill();
        DecoderTurns.Prefill second = turns.beginPrefill();
        Cancellation cancellation = Cancellation.create();
        AtomicBoolean acquired = new AtomicBoolean(true);
        Thread waiting = waitingThread(() -> acquired.set(second.acquire(cancellation, 8)));
        cancellation.cancel();
        joinQuietly(waiting);
        assertFalse(acquired.get(), "a cancelled wait reported a run");
        second.close();
        // The cancelled prompt holds nothing: the first runs, ends, and a third begun later runs at once.
        assertTrue(first.acquire(Cancellation.none(), 8));
        turns.release();
        first.close();
        DecoderTurns.Prefill third = turns.beginPrefill();
        assertTrue(third.acquire(Cancellation.none(), 8));
        turns.release();
        third.close();
        assertThrows(IllegalStateException.class, () -> third.acquire(Cancellation.none(), 8), "an ended prefill ran again");
    }

    @Test
    void aBatchAboutToLoseASequenceFinishesItBeforeTheWaitingPromptsNextRun() throws Exception {
        // Measured first: a prompt run of 100 tokens in 100 ms (1 ms a token), a step of 10 ms.
        DecoderTurns.Prefill prompt = turns.beginPrefill();
        assertTrue(prompt.acquire(Cancellation.none(), 100));
        clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(100));
        turns.release();
        turns.acquireStep(3);
        clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(10));
        turns.release();
        // The prompt's next run (100 tokens, ~100 ms) waits: the nearest sequence ends in 2 steps (~20 ms, at most a
        // quarter of the run). Once it has, the batch's nearest end is 50 steps away and the prompt goes first.
        Thread reader = promptRun(prompt, 100, "prompt");
        Thread batch = waitingThread(() -> {
            for (int nearestEnd : new int[] {2, 1, 50}) {
                turns.acquireStep(nearestEnd);
                order.add("step " + nearestEnd);
                clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(10));
                turns.release();
            }
        });
        joinQuietly(batch);
        joinQuietly(reader);
        prompt.close();
        assertEquals(List.of("step 2", "step 1", "prompt", "step 50"), order);
    }

    @Test
    void aPromptsShortLastRunDoesNotOverrateTheNextPromptsLongRun() throws Exception {
        // 100 tokens in 100 ms, then a prompt's last 4 tokens in 40 ms (10 ms a token on their own: the run reads every
        // weight for a few tokens). The time per token weighs both by their tokens: about 1.7 ms.
        DecoderTurns.Prefill first = turns.beginPrefill();
        for (int[] run : new int[][] {{100, 100}, {4, 40}}) {
            assertTrue(first.acquire(Cancellation.none(), run[0]));
            clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(run[1]));
            turns.release();
        }
        first.close();
        turns.acquireStep(6);
        clock.addAndGet(TimeUnit.MILLISECONDS.toNanos(10));
        turns.release();
        // The batch's nearest end: 5 steps of 10 ms = 50 ms, more than a quarter of a 100-token run (~42 ms): the next
        // prompt goes now. Rated by the short run alone (250 ms a quarter) it would wait for the batch.
        DecoderTurns.Prefill next = turns.beginPrefill();
        Thread reader = promptRun(next, 100, "prompt");
        Thread.sleep(200);
        assertFalse(reader.isAlive(), "the prompt waited for a batch that is not near a sequence's end");
        next.close();
        assertEquals(List.of("prompt"), order);
    }

    @Test
    void aPromptsLastRunHandsTheDecoderToTheBatchForTheSequenceItRead() throws Exception {
        DecoderTurns.Prefill first = turns.beginPrefill();
        DecoderTurns.Prefill second = turns.beginPrefill();
        assertTrue(first.acquire(Cancellation.none(), 8));
        first.handOver(); // a run that took no time: the batch is owed nothing, yet the next run is its step
        first.close();
        Thread next = promptRun(second, 8, "second");
        Thread.sleep(250);
        assertTrue(next.isAlive(), "the next prompt ran before the sequence just read could step");
        turns.acquireStep(100);
        order.add("step");
        turns.release();
        joinQuietly(next);
        assertEquals(List.of("step", "second"), order);

        // After a prompt run it is the batch's turn; a batch that does not ask for its step within the grace loses it.
        clock.addAndGet(DecoderTurns.STEP_GRACE_NANOS);
        // A hand-over nobody takes (the sequence was cancelled before its first step) lapses.
        DecoderTurns.Prefill third = turns.beginPrefill();
        assertTrue(second.acquire(Cancellation.none(), 8));
        second.handOver();
        second.close();
        Thread lapsing = promptRun(third, 8, "third");
        clock.addAndGet(DecoderTurns.HANDOVER_NANOS);
        joinQuietly(lapsing);
        assertEquals(List.of("step", "second", "third"), order);

        // A sequence that ends without joining (its first token ended it) withdraws its hand-over at once. (The batch
        // has no sequence now, so no prompt holds back for its step.)
        turns.batchEmpty();
        DecoderTurns.Prefill fourth = turns.beginPrefill();
        assertTrue(third.acquire(Cancellation.none(), 8));
        third.handOver();
        third.close();
        third.withdrawHandOver();
        Thread withdrawn = promptRun(fourth, 8, "fourth");
        joinQuietly(withdrawn);
        fourth.close();
        assertEquals(List.of("step", "second", "third", "fourth"), order);
    }
}
