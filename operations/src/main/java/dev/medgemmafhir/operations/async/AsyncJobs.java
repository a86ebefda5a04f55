package dev.medgemmafhir.operations.async;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.operations.async.AsyncJob.State;
import dev.medgemmafhir.operations.run.AiTask;
import dev.medgemmafhir.operations.run.AiTaskRunner;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Resource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs accepted asynchronous operations on this replica and keeps their state in the database.
 * A live job's replica sends heartbeats; a job whose heartbeats stop (the replica crashed or was
 * restarted) is marked failed by whichever replica notices first, so no job stays "running"
 * forever. A cancellation stored by any replica reaches the running one within a heartbeat.
 */
public final class AsyncJobs implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(AsyncJobs.class);

  /** Settings. */
  public record Settings(int workers, Duration heartbeat, Duration abandonedAfter, Duration retention) {
    public static Settings defaults() {
      return new Settings(4, Duration.ofSeconds(5), Duration.ofSeconds(60), Duration.ofHours(24));
    }
  }

  private final AsyncJobStore store;
  private final AiTaskRunner runner;
  private final FhirContext fhir;
  private final Settings settings;
  private final Clock clock;
  private final String owner = "replica-" + UUID.randomUUID();
  private final Map<String, Cancellation> live = new ConcurrentHashMap<>();
  private final Map<String, Instant> lastProgressWrite = new ConcurrentHashMap<>();
  private final ExecutorService workers;
  private final ScheduledExecutorService housekeeping;

  public AsyncJobs(AsyncJobStore store, AiTaskRunner runner, FhirContext fhir, Settings settings, Clock clock) {
    this.store = store;
    this.runner = runner;
    this.fhir = fhir;
    this.settings = settings;
    this.clock = clock;
    this.workers = Executors.newFixedThreadPool(settings.workers(), daemon("async-job"));
    this.housekeeping = Executors.newSingleThreadScheduledExecutor(daemon("async-job-heartbeat"));
    long period = settings.heartbeat().toMillis();
    housekeeping.scheduleWithFixedDelay(this::housekeeping, 0, period, TimeUnit.MILLISECONDS);
  }

  /** Stores the job and starts it; returns its id. */
  public String submit(AiTask task) {
    return submit(task, (status, result) -> { });
  }

  /** As {@link #submit(AiTask)}; {@code onEnd} learns how the job ended (not when it was cancelled). */
  public String submit(AiTask task, BiConsumer<Integer, Resource> onEnd) {
    String id = UUID.randomUUID().toString();
    store.insert(id, task.operation(), task.target(), owner, clock.instant());
    start(id, task, onEnd);
    return id;
  }

  private void start(String id, AiTask task, BiConsumer<Integer, Resource> onEnd) {
    Cancellation cancellation = Cancellation.create();
    live.put(id, cancellation);
    workers.submit(() -> run(id, task, cancellation, onEnd));
  }

  /** A kick-off's job: the one it started, or the live one it found. */
  public record Submitted(String id, boolean started) {}

  /**
   * As {@link #submit(AiTask, java.util.function.BiConsumer)}, unless a job of the same operation on
   * the same target is queued or running on any replica: then nothing starts and that job is named.
   * Checking and storing are one step, so callers at the same instant start one job between them.
   */
  public Submitted submitUnlessLive(AiTask task, BiConsumer<Integer, Resource> onEnd) {
    String id = UUID.randomUUID().toString();
    Optional<String> live = store.insertUnlessLive(id, task.operation(), task.target(), owner, clock.instant());
    if (live.isPresent()) {
      return new Submitted(live.get(), false);
    }
    start(id, task, onEnd);
    return new Submitted(id, true);
  }

  public Optional<AsyncJob> find(String id) {
    return store.find(id);
  }

  /** Cancels a live job on whichever replica runs it; false when there is no such job or it already ended. */
  public boolean cancel(String id) {
    boolean cancelled = store.cancel(id, clock.instant());
    Cancellation local = live.get(id);
    if (local != null) {
      local.cancel();
    }
    return cancelled;
  }

  /** Forgets an ended job (a live one is left alone); false when there was none. */
  public boolean forget(String id) {
    return store.forget(id);
  }

  private void run(String id, AiTask task, Cancellation cancellation,
      BiConsumer<Integer, Resource> onEnd) {
    int status = 0;
    Resource ended = null;
    try {
      AiTaskRunner.Accepted result = runner.runAccepted(task, text -> reportProgress(id, text), cancellation);
      status = result.created() ? 201 : 200;
      ended = result.reply();
      store.finish(id, State.COMPLETED, status, result.location(),
          fhir.newJsonParser().encodeResourceToString(result.reply()), clock.instant());
    } catch (AiTaskRunner.Cancelled e) {
      log.info("Async job {} cancelled", id);
    } catch (BaseServerResponseException e) {
      OperationOutcome outcome = outcome(e.getMessage());
      status = e.getStatusCode();
      ended = outcome;
      store.finish(id, State.FAILED, status, null, fhir.newJsonParser().encodeResourceToString(outcome),
          clock.instant());
    } catch (RuntimeException e) {
      log.error("Async job {} failed", id, e);
      status = 500;
      ended = outcome("The operation failed: " + e.getMessage());
      store.finish(id, State.FAILED, 500, null, fhir.newJsonParser().encodeResourceToString(ended), clock.instant());
    } finally {
      if (status != 0) {
        try {
          onEnd.accept(status, ended);
        } catch (RuntimeException e) {
          log.error("Recording the end of async job {} failed: {}", id, e.toString());
        }
      }
      live.remove(id);
      lastProgressWrite.remove(id);
    }
  }

  /** Progress is written at most once a second: the listener fires for every token. */
  private void reportProgress(String id, String text) {
    Instant now = clock.instant();
    Instant last = lastProgressWrite.get(id);
    if (last != null && Duration.between(last, now).toMillis() < 1000) {
      return;
    }
    lastProgressWrite.put(id, now);
    if (!store.progress(id, text, now)) {
      Cancellation c = live.get(id);
      if (c != null) {
        c.cancel();
      }
    }
  }

  private void housekeeping() {
    try {
      Instant now = clock.instant();
      for (String cancelled : store.heartbeat(new ArrayList<>(live.keySet()), now)) {
        Cancellation c = live.get(cancelled);
        if (c != null) {
          c.cancel();
        }
      }
      int abandoned = store.failAbandoned(now.minus(settings.abandonedAfter()),
          fhir.newJsonParser().encodeResourceToString(outcome(
              "The server running this job stopped before it finished; submit the operation again")), now);
      if (abandoned > 0) {
        log.warn("Marked {} abandoned async job(s) as failed", abandoned);
      }
      store.purgeEndedBefore(now.minus(settings.retention()));
    } catch (RuntimeException e) {
      log.warn("Async job housekeeping failed: {}", e.getMessage());
    }
  }

  static OperationOutcome outcome(String message) {
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
        .setCode(OperationOutcome.IssueType.PROCESSING).setDiagnostics(message);
    return outcome;
  }

  private static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }

  @Override
  public void close() {
    live.values().forEach(Cancellation::cancel);
    housekeeping.shutdownNow();
    workers.shutdownNow();
  }
}
