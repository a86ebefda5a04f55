package dev.medgemmafhir.operations.queue;

import dev.medgemmafhir.operations.OperationErrors;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import dev.medgemmafhir.engine.Cancellation;
import java.util.concurrent.CancellationException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Admission to one model: at most {@code concurrency} generations run at once and at most
 * {@code maxWaiting} wait for a slot. A synchronous caller that finds the waiting room full gets
 * a 429 right away; asynchronous jobs always wait (they are already accepted).
 */
public final class InferenceQueue {

  private final String modelId;
  private final Semaphore slots;
  private final int maxWaiting;
  private final int retryAfterSeconds;
  private final AtomicInteger waiting = new AtomicInteger();
  private final AtomicInteger running = new AtomicInteger();

  public InferenceQueue(String modelId, int concurrency, int maxWaiting, int retryAfterSeconds, MeterRegistry meters) {
    if (concurrency < 1 || maxWaiting < 0) {
      throw new IllegalArgumentException("concurrency must be >= 1 and max-queue >= 0 for model " + modelId);
    }
    this.modelId = modelId;
    this.slots = new Semaphore(concurrency, true);
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

  /** How often a waiting synchronous caller looks whether it gave up. */
  private static final long GAVE_UP_CHECK_MILLIS = 50;

  /** For a synchronous request: a slot now, a wait when there is room to wait, else 429. */
  public Permit enterOrReject() throws InterruptedException {
    return enterOrReject(Cancellation.none());
  }

  /**
   * As {@link #enterOrReject()}; a caller that gives up while it waits ({@code cancellation}, e.g. a
   * streaming client that went away) leaves the waiting room with a {@link CancellationException}.
   */
  public Permit enterOrReject(Cancellation cancellation) throws InterruptedException {
    if (slots.tryAcquire()) {
      return granted();
    }
    int depth = waiting.incrementAndGet();
    try {
      if (depth > maxWaiting) {
        throw new OperationErrors.QueueFull("The inference queue of model '" + modelId + "' is full ("
            + maxWaiting + " waiting); retry later or use Prefer: respond-async", retryAfterSeconds);
      }
      while (!slots.tryAcquire(GAVE_UP_CHECK_MILLIS, TimeUnit.MILLISECONDS)) {
        if (cancellation.isCancelled()) {
          throw new CancellationException("gave up waiting for model '" + modelId + "'");
        }
      }
    } finally {
      waiting.decrementAndGet();
    }
    return granted();
  }

  /** For an accepted asynchronous job: waits as long as it takes. */
  public Permit enter() throws InterruptedException {
    waiting.incrementAndGet();
    try {
      slots.acquire();
    } finally {
      waiting.decrementAndGet();
    }
    return granted();
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
          slots.release();
        }
      }
    };
  }
}
