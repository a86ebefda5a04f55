package dev.medgemmafhir.operations.queue;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.operations.OperationErrors;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.ArrayDeque;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Admission to one model: at most {@code concurrency} generations run at once and at most
 * {@code maxWaiting} wait for a slot. A synchronous caller that finds the waiting room full gets
 * a 429 right away; asynchronous jobs always wait (they are already accepted). Waiters are let in
 * in the order they came, and one that gives up (its {@link Cancellation}) leaves the line.
 */
public final class InferenceQueue {

  /** How often a waiter looks whether it gave up (nothing else wakes it for that). */
  private static final long GAVE_UP_CHECK_MILLIS = 50;

  private final String modelId;
  private final int maxWaiting;
  private final int retryAfterSeconds;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  /** The waiters, first come first: each holds its own ticket. */
  private final ArrayDeque<Object> line = new ArrayDeque<>();
  private int free;
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicInteger running = new AtomicInteger();

  public InferenceQueue(String modelId, int concurrency, int maxWaiting, int retryAfterSeconds, MeterRegistry meters) {
    if (concurrency < 1 || maxWaiting < 0) {
      throw new IllegalArgumentException("concurrency must be >= 1 and max-queue >= 0 for model " + modelId);
    }
    this.modelId = modelId;
    this.free = concurrency;
    this.maxWaiting = maxWaiting;
    this.retryAfterSeconds = retryAfterSeconds;
    if (meters != null) {
      Gauge.builder("medgemma.inference.queue.depth", waiting, AtomicInteger::get)
          .description("Generations waiting for a free slot").tag("model", modelId).register(meters);
      Gauge.builder("medgemma.inference.running", running, AtomicInteger::get)
          .description("Generations running").tag("model", modelId).register(meters);
    }
  }

  /** A held slot; closing it lets the next caller in. */
  public interface Permit extends AutoCloseable {
    @Override
    void close();
  }

  /** For a synchronous request: a slot now, a wait when there is room to wait, else 429. */
  public Permit enterOrReject() throws InterruptedException {
    return enterOrReject(Cancellation.none());
  }

  /**
   * As {@link #enterOrReject()}; a caller that gives up while it waits ({@code cancellation}, e.g. a
   * streaming client that went away) leaves the line with a {@link CancellationException}.
   */
  public Permit enterOrReject(Cancellation cancellation) throws InterruptedException {
    return admit(cancellation, true);
  }

  /** For an accepted asynchronous job: waits as long as it takes. */
  public Permit enter() throws InterruptedException {
    return enter(Cancellation.none());
  }

  /** As {@link #enter()}; a job cancelled while it waits leaves the line with a {@link CancellationException}. */
  public Permit enter(Cancellation cancellation) throws InterruptedException {
    return admit(cancellation, false);
  }

  private Permit admit(Cancellation cancellation, boolean rejectWhenFull) throws InterruptedException {
    lock.lock();
    try {
      if (line.isEmpty() && free > 0) {
        free--;
        return granted();
      }
      if (rejectWhenFull && waiting.get() >= maxWaiting) {
        throw new OperationErrors.QueueFull("The inference queue of model '" + modelId + "' is full ("
            + maxWaiting + " waiting); retry later or use Prefer: respond-async", retryAfterSeconds);
      }
      Object ticket = new Object();
      line.addLast(ticket);
      waiting.incrementAndGet();
      try {
        while (line.peekFirst() != ticket || free == 0) {
          if (cancellation.isCancelled()) {
            throw new CancellationException("gave up waiting for model '" + modelId + "'");
          }
          changed.await(GAVE_UP_CHECK_MILLIS, TimeUnit.MILLISECONDS);
        }
        free--;
        return granted();
      } finally {
        line.remove(ticket);
        waiting.decrementAndGet();
        changed.signalAll(); // the next in line may be first now
      }
    } finally {
      lock.unlock();
    }
  }

  public int waiting() {
    return waiting.get();
  }

  public int running() {
    return running.get();
  }

  private Permit granted() {
    running.incrementAndGet();
    return new Permit() {
      private boolean closed;

      @Override
      public synchronized void close() {
        if (!closed) {
          closed = true;
          running.decrementAndGet();
          release();
        }
      }
    };
  }

  private void release() {
    lock.lock();
    try {
      free++;
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }
}
