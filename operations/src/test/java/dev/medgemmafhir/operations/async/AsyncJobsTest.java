package dev.medgemmafhir.operations.async;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.operations.run.AiTask;
import dev.medgemmafhir.operations.run.AiTaskRunner;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.h2.jdbcx.JdbcDataSource;
import org.hl7.fhir.r4.model.Basic;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Asynchronous jobs against a real database (H2): two "replicas" share one table. */
class AsyncJobsTest {

  static final FhirContext FHIR = FhirContext.forR4Cached();

  JdbcDataSource db;
  AsyncJobStore store;
  AsyncJobs replicaA;
  AsyncJobs replicaB;

  /** Generates until cancelled, reporting a character now and then. */
  static final class EndlessEngine implements Engine {
    final CountDownLatch started = new CountDownLatch(1);

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      started.countDown();
      while (!cancellation.isCancelled()) {
        listener.onText("x");
        try {
          Thread.sleep(5);
        } catch (InterruptedException e) {
          break;
        }
      }
      return new GenerationResult("", new int[1], new int[1], StopReason.CANCELLED, 1, 1, "CPU");
    }

    @Override public int countTokens(String text) { return text.length(); }
    @Override public int countPromptTokens(GenerationRequest request) { return 1; }
    @Override public int contextLength() { return 100; }
    @Override public ModelIdentity identity() {
      return new ModelIdentity("endless", "test", "none", Optional.empty(), () -> "sha256:1");
    }
    @Override public void close() {}
  }

  /** Answers at once with a fixed text. */
  static final class QuickEngine implements Engine {
    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      return new GenerationResult("done", new int[1], new int[] {7}, StopReason.END_OF_SEQUENCE, 1, 1, "CPU");
    }
    @Override public int countTokens(String text) { return text.length(); }
    @Override public int countPromptTokens(GenerationRequest request) { return 1; }
    @Override public int contextLength() { return 100; }
    @Override public ModelIdentity identity() {
      return new ModelIdentity("quick", "test", "none", Optional.empty(), () -> "sha256:2");
    }
    @Override public void close() {}
  }

  /** A task that writes nothing (persist=false) and returns a Basic holding the model's text. */
  static AiTask task(Engine engine) {
    LoadedModel model = new LoadedModel("m", "M", engine, new InferenceQueue("m", 2, 2, 1, null));
    return new AiTask() {
      @Override public String operation() { return "summarize"; }
      @Override public String target() { return "Encounter/1"; }
      @Override public LoadedModel model() { return model; }
      @Override public GenerationRequest request() { return GenerationRequest.of(null, "hi", GenerationParams.greedy(4)); }
      @Override public String idempotencyKey() { return "k"; }
      @Override public String draftType() { return "Basic"; }
      @Override public boolean persist() { return false; }
      @Override public org.hl7.fhir.r4.model.Parameters preview() { return new org.hl7.fhir.r4.model.Parameters(); }
      @Override public Draft complete(GenerationResult generated, Reference device, Reference draftReference) {
        Basic basic = new Basic();
        basic.getCode().setText(generated.text());
        return new Draft(basic, null);
      }
    };
  }

  @BeforeEach
  void twoReplicasOnOneDatabase() {
    db = new JdbcDataSource();
    db.setURL("jdbc:h2:mem:jobs-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
    store = new AsyncJobStore(db);
    AsyncJobs.Settings settings = new AsyncJobs.Settings(2, Duration.ofMillis(50), Duration.ofSeconds(60), Duration.ofHours(1));
    replicaA = new AsyncJobs(new AsyncJobStore(db), new AiTaskRunner(null, null), FHIR, settings, Clock.systemUTC());
    replicaB = new AsyncJobs(new AsyncJobStore(db), new AiTaskRunner(null, null), FHIR, settings, Clock.systemUTC());
  }

  @AfterEach
  void stop() {
    replicaA.close();
    replicaB.close();
  }

  AsyncJob awaitEnded(AsyncJobs replica, String id) throws InterruptedException {
    for (int i = 0; i < 400; i++) {
      AsyncJob job = replica.find(id).orElseThrow();
      if (job.state().ended()) {
        return job;
      }
      Thread.sleep(25);
    }
    throw new AssertionError("job " + id + " did not end");
  }

  @Test
  void aCompletedJobIsVisibleToEveryReplica() throws Exception {
    String id = replicaA.submit(task(new QuickEngine()));
    AsyncJob job = awaitEnded(replicaB, id);
    assertThat(job.state()).isEqualTo(AsyncJob.State.COMPLETED);
    assertThat(job.httpStatus()).isEqualTo(200);
    assertThat(((Basic) FHIR.newJsonParser().parseResource(job.resultJson())).getCode().getText()).isEqualTo("done");
  }

  @Test
  void aCancellationStoredByAnotherReplicaStopsTheRunningGeneration() throws Exception {
    EndlessEngine engine = new EndlessEngine();
    String id = replicaA.submit(task(engine));
    assertThat(engine.started.await(10, TimeUnit.SECONDS)).isTrue();
    assertThat(replicaB.find(id).orElseThrow().state()).isIn(AsyncJob.State.QUEUED, AsyncJob.State.RUNNING);

    assertThat(replicaB.cancel(id)).isTrue();

    AsyncJob job = awaitEnded(replicaA, id);
    assertThat(job.state()).isEqualTo(AsyncJob.State.CANCELLED);
    // The generation on replica A really stopped: its progress no longer moves.
    String progress = store.find(id).orElseThrow().progress();
    Thread.sleep(200);
    assertThat(store.find(id).orElseThrow().progress()).isEqualTo(progress);
  }

  @Test
  void aJobWhoseReplicaStoppedIsMarkedFailedInsteadOfRunningForever() throws Exception {
    // A job left RUNNING by a replica that died two minutes ago.
    Instant twoMinutesAgo = Instant.now().minusSeconds(120);
    store.insert("orphan", "summarize", "Encounter/1", "replica-gone", twoMinutesAgo);
    store.progress("orphan", "generating", twoMinutesAgo);

    AsyncJob job = awaitEnded(replicaB, "orphan");

    assertThat(job.state()).isEqualTo(AsyncJob.State.FAILED);
    assertThat(job.httpStatus()).isEqualTo(500);
    OperationOutcome outcome = (OperationOutcome) FHIR.newJsonParser().parseResource(job.resultJson());
    assertThat(outcome.getIssueFirstRep().getDiagnostics()).contains("submit the operation again");
  }

  @Test
  void aLiveJobKeepsItsHeartbeatAndIsNotReaped() throws Exception {
    EndlessEngine engine = new EndlessEngine();
    AsyncJobs.Settings strict = new AsyncJobs.Settings(1, Duration.ofMillis(50), Duration.ofMillis(500), Duration.ofHours(1));
    try (AsyncJobs replica = new AsyncJobs(new AsyncJobStore(db), new AiTaskRunner(null, null), FHIR, strict, Clock.systemUTC())) {
      String id = replica.submit(task(engine));
      assertThat(engine.started.await(10, TimeUnit.SECONDS)).isTrue();
      Thread.sleep(1500); // three times the abandonment limit
      assertThat(store.find(id).orElseThrow().state()).isEqualTo(AsyncJob.State.RUNNING);
      replica.cancel(id);
    }
  }

  /** H2 (the quick start's database): kick-offs at the same instant on two "replicas" of one process start one job. */
  @Test
  void kickOffsUnlessRunningAtTheSameInstantStartOneJob() throws Exception {
    EndlessEngine engine = new EndlessEngine();
    int callers = 8;
    java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(callers);
    java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(callers);
    try {
      java.util.List<java.util.concurrent.Future<AsyncJobs.Submitted>> kickoffs = new java.util.ArrayList<>();
      for (int i = 0; i < callers; i++) {
        AsyncJobs replica = i % 2 == 0 ? replicaA : replicaB;
        kickoffs.add(threads.submit(() -> {
          together.await(10, TimeUnit.SECONDS);
          return replica.submitUnlessLive(task(engine), (status, result) -> { });
        }));
      }
      java.util.List<AsyncJobs.Submitted> submitted = new java.util.ArrayList<>();
      for (java.util.concurrent.Future<AsyncJobs.Submitted> kickoff : kickoffs) {
        submitted.add(kickoff.get(30, TimeUnit.SECONDS));
      }
      assertThat(submitted).filteredOn(AsyncJobs.Submitted::started).hasSize(1);
      // Every caller names the one job, which is live; no other was stored.
      assertThat(submitted).extracting(AsyncJobs.Submitted::id).containsOnly(submitted.get(0).id());
      assertThat(new org.springframework.jdbc.core.JdbcTemplate(db).queryForObject(
          "SELECT COUNT(*) FROM mgf_async_job", Integer.class)).isEqualTo(1);

      // Once it ended, the next kick-off starts a new job.
      replicaA.cancel(submitted.get(0).id());
      awaitEnded(replicaB, submitted.get(0).id());
      AsyncJobs.Submitted next = replicaB.submitUnlessLive(task(new QuickEngine()), (status, result) -> { });
      assertThat(next.started()).isTrue();
      assertThat(next.id()).isNotEqualTo(submitted.get(0).id());
    } finally {
      threads.shutdownNow();
    }
  }
}
