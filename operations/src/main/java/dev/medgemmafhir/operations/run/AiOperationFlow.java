package dev.medgemmafhir.operations.run;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.operations.OperationErrors;
import dev.medgemmafhir.operations.OperationRequestData;
import dev.medgemmafhir.operations.async.AsyncKickoff;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
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
  private final ScheduledExecutorService heartbeats = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "event-stream-heartbeat");
    t.setDaemon(true);
    return t;
  });

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
    ScheduledFuture<?> heartbeat = heartbeats.scheduleAtFixedRate(() -> events.keepalive(idle), period, period,
        TimeUnit.MILLISECONDS);
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
  }

  private Resource runStreaming(AiTask task, EventStream events, Cancellation cancellation,
      ScheduledFuture<?> heartbeat) {
    try {
      return runner.runStreaming(task, events::token, cancellation);
    } finally {
      heartbeat.cancel(false); // a beat under way finishes first: the events are written one at a time
    }
  }

  @Override
  public void close() {
    heartbeats.shutdownNow();
  }
}
