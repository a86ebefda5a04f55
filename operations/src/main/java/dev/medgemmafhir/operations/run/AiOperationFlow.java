package dev.medgemmafhir.operations.run;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.operations.OperationErrors;
import dev.medgemmafhir.operations.OperationRequestData;
import dev.medgemmafhir.operations.async.AsyncKickoff;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Resource;

/**
 * The one path every AI operation takes once its task is prepared: record the request for the audit
 * trail, answer a dry run with the prompt, answer a retry with the draft an identical request already
 * wrote, then run now (streamed as server-sent events with
 * {@code Accept: text/event-stream}, see {@link EventStream}) or as an asynchronous job. Generating and writing is the {@link AiTaskRunner}'s
 * (the writing itself, in one transaction, the {@link ResultWriter}'s), the same for both paths.
 */
public final class AiOperationFlow implements AutoCloseable {

  /** {@code medgemma.operations.stream-heartbeat}'s default. */
  public static final Duration DEFAULT_STREAM_HEARTBEAT = Duration.ofSeconds(5);

  private final AiTaskRunner runner;
  private final ResultWriter writer;
  private final AsyncKickoff async;
  private final Duration streamHeartbeat;
  /** Keeps time only: it never writes, so no stream can hold up another's beats. */
  private final ScheduledExecutorService heartbeats = Executors.newSingleThreadScheduledExecutor(
      daemon("event-stream-heartbeat"));
  /**
   * Writes the beats. A client that keeps its connection open but stops reading blocks a write until the
   * servlet container's write timeout; each stream has at most one beat here at a time, so such a client
   * holds one of these threads, never the clock or the other streams' beats.
   */
  private final ExecutorService beatWriters = Executors.newCachedThreadPool(daemon("event-stream-heartbeat-write"));

  public AiOperationFlow(AiTaskRunner runner, ResultWriter writer, AsyncKickoff async) {
    this(runner, writer, async, DEFAULT_STREAM_HEARTBEAT);
  }

  /** @param streamHeartbeat how often a stream without new text sends {@code : keepalive} */
  public AiOperationFlow(AiTaskRunner runner, ResultWriter writer, AsyncKickoff async, Duration streamHeartbeat) {
    if (streamHeartbeat == null || streamHeartbeat.isNegative() || streamHeartbeat.isZero()) {
      throw new IllegalArgumentException("medgemma.operations.stream-heartbeat must be positive, got " + streamHeartbeat);
    }
    this.runner = runner;
    this.writer = writer;
    this.async = async;
    this.streamHeartbeat = streamHeartbeat;
  }

  /**
   * @param dryRun return what the model would be given, run nothing, write nothing
   * @return the draft (stored, or unsaved when the task does not persist), the earlier identical
   *     draft, a dry run's Parameters, or an async kick-off's OperationOutcome (answered with 202)
   */
  public IBaseResource run(AiTask task, boolean dryRun, RequestDetails request) {
    OperationRequestData.record(request, task);
    if (dryRun) {
      return task.preview();
    }
    boolean wantsAsync = AsyncKickoff.wantsAsync(request);
    if (wantsAsync && task.keyAwaitsInputs()) {
      return async.accept(task, request); // the job answers with an earlier identical draft, if any
    }
    Optional<Resource> existing = task.persist() && task.reusesEarlierDraft() ? writer.findDraft(task.draftType(), task.idempotencyKey())
        : Optional.empty();
    if (existing.isPresent()) {
      return existing.get();
    }
    if (wantsAsync) {
      return async.accept(task, request);
    }
    if (EventStream.wanted(request)) {
      return stream(task, request);
    }
    return runner.runNow(task);
  }

  /** Runs now, sending the text as it is generated and then the result, or the failure, as events. */
  private IBaseResource stream(AiTask task, RequestDetails request) {
    Cancellation cancellation = Cancellation.create();
    EventStream events = EventStream.of(request, cancellation);
    // The first beat comes one interval in: what fails at once (a full queue) is still a plain FHIR error.
    long period = streamHeartbeat.toMillis();
    // A beat is left out while text flows; 9/10 of the interval, so that timer jitter never makes a
    // beat skip the next one.
    Duration idle = streamHeartbeat.multipliedBy(9).dividedBy(10);
    AtomicBoolean beatUnderWay = new AtomicBoolean();
    ScheduledFuture<?> heartbeat = heartbeats.scheduleAtFixedRate(() -> {
      if (beatUnderWay.compareAndSet(false, true)) { // else this stream's last beat is still being written
        try {
          beatWriters.execute(() -> {
            try {
              events.keepalive(idle);
            } finally {
              beatUnderWay.set(false);
            }
          });
        } catch (RejectedExecutionException closing) {
          beatUnderWay.set(false);
        }
      }
    }, period, period, TimeUnit.MILLISECONDS);
    try {
      Resource result;
      try {
        result = runStreaming(task, events, cancellation, heartbeat);
      } catch (AiTaskRunner.Cancelled e) {
        throw new OperationErrors.ClientClosed("The client closed the stream; $" + task.operation() + " on "
            + task.target() + " was cancelled and wrote nothing");
      } catch (BaseServerResponseException e) {
        events.error(e);
        throw e;
      }
      events.result(result);
      return result;
    } finally {
      events.end(); // a beat still on its way writes nothing after the last event
    }
  }

  private Resource runStreaming(AiTask task, EventStream events, Cancellation cancellation,
      ScheduledFuture<?> heartbeat) {
    try {
      return runner.runStreaming(task, events::token, cancellation);
    } finally {
      heartbeat.cancel(false); // the events are written one at a time: a beat under way finishes first
    }
  }

  private static ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  @Override
  public void close() {
    heartbeats.shutdownNow();
    beatWriters.shutdownNow();
  }
}
