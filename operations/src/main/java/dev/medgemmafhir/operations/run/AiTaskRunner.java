package dev.medgemmafhir.operations.run;

import ca.uhn.fhir.rest.server.exceptions.InternalErrorException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.hl7.fhir.r4.model.Resource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs an {@link AiTask}: takes a slot in the model's queue, generates, and writes the draft.
 * Shared by the synchronous and the asynchronous path so both behave the same.
 */
public final class AiTaskRunner {

  private static final Logger log = LoggerFactory.getLogger(AiTaskRunner.class);

  /** Where a running task reports what it is doing (the async status's X-Progress). */
  @FunctionalInterface
  public interface Progress {
    Progress NONE = text -> { };

    void report(String text);
  }

  /** The task was cancelled before it wrote anything. */
  public static final class Cancelled extends RuntimeException {
    public Cancelled() {
      super("cancelled");
    }
  }

  private final ResultWriter writer;
  private final MeterRegistry meters;

  public AiTaskRunner(ResultWriter writer, MeterRegistry meters) {
    this.writer = writer;
    this.meters = meters == null ? new SimpleMeterRegistry() : meters;
  }

  /** Synchronous: a full queue is a 429 now. */
  public Resource runNow(AiTask task) {
    return runSynchronously(task, TextStreamListener.NONE, Cancellation.none(),
        () -> new InternalErrorException("Interrupted while waiting for the model"));
  }

  /**
   * Synchronous with the text streamed as it is generated ({@code Accept: text/event-stream}): a full
   * queue is a 429 now; {@code cancellation} stops the generation (the client went away) and nothing is written.
   */
  public Resource runStreaming(AiTask task, TextStreamListener tokens, Cancellation cancellation) {
    return runSynchronously(task, tokens, cancellation, Cancelled::new);
  }

  private Resource runSynchronously(AiTask task, TextStreamListener tokens, Cancellation cancellation,
      java.util.function.Supplier<RuntimeException> interrupted) {
    long arrived = System.nanoTime();
    task.request(); // inputs are fetched before taking a model slot
    try (InferenceQueue.Permit permit = task.model().queue().enterOrReject(cancellation)) {
      if (cancellation.isCancelled()) {
        throw new Cancelled();
      }
      return generateAndWrite(task, Progress.NONE, tokens, cancellation, arrived).reply();
    } catch (java.util.concurrent.CancellationException e) {
      throw new Cancelled(); // the caller went away while it waited for the model
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw interrupted.get();
    }
  }

  /**
   * How an accepted job ended.
   *
   * @param reply what the caller gets (the draft, or the operation's own answer such as $ask's Parameters)
   * @param location the stored draft's versioned reference; null when nothing is stored
   * @param created whether this job wrote it (false: an earlier identical draft, or nothing stored)
   */
  public record Accepted(Resource reply, String location, boolean created) {}

  /**
   * Asynchronous: the job waits for its turn. Once the inputs that make the idempotency key are in,
   * an earlier identical draft (written meanwhile, or one the kick-off could not look for) is the answer.
   */
  public Accepted runAccepted(AiTask task, Progress progress, Cancellation cancellation) {
    long started = System.nanoTime();
    progress.report("fetching inputs");
    if (task.persist() && task.reusesEarlierDraft()) {
      Optional<Resource> existing = writer.findDraft(task.draftType(), task.idempotencyKey());
      if (existing.isPresent()) {
        return new Accepted(task.reply(existing.get()), location(existing.get()), false);
      }
    }
    task.request(); // inputs are fetched before taking a model slot
    if (cancellation.isCancelled()) {
      throw new Cancelled();
    }
    progress.report("queued for model " + task.model().id());
    try (InferenceQueue.Permit permit = task.model().queue().enter(cancellation)) {
      if (cancellation.isCancelled()) {
        throw new Cancelled();
      }
      Written written = generateAndWrite(task, progress, TextStreamListener.NONE, cancellation, started);
      return new Accepted(written.reply(), written.stored() == null ? null : location(written.stored()),
          written.stored() != null);
    } catch (java.util.concurrent.CancellationException e) {
      throw new Cancelled(); // cancelled while it waited for the model
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Cancelled();
    }
  }

  private static String location(Resource stored) {
    return stored.getIdElement().hasIdPart() ? stored.getIdElement().toUnqualified().getValue() : null;
  }

  /** @param stored the draft as written; null when the task does not persist */
  private record Written(Resource stored, Resource reply) {}

  /** @param started when the task began (inputs, the wait for a model slot and the prefill count toward first text) */
  private Written generateAndWrite(AiTask task, Progress progress, TextStreamListener tokens,
      Cancellation cancellation, long started) {
    int maxTokens = task.request().params().maxNewTokens();
    AtomicInteger chars = new AtomicInteger();
    AtomicLong firstText = new AtomicLong();
    progress.report("generating (limit " + maxTokens + " tokens)");
    GenerationResult generated;
    long start = System.nanoTime();
    try {
      generated = task.model().engine().generate(task.request(), delta -> {
        long now = System.nanoTime();
        if (firstText.compareAndSet(0, now)) {
          recordFirstText(task, now - started);
        }
        tokens.onText(delta);
        int total = chars.addAndGet(delta.length());
        progress.report("generating: " + total + " characters written (limit " + maxTokens + " tokens)");
      }, cancellation);
    } catch (InvalidInputException e) {
      throw new UnprocessableEntityException("The model cannot run this input: " + e.getMessage());
    } catch (EngineException e) {
      log.error("Generation failed for {} on model {}", task.target(), task.model().id(), e);
      throw new InternalErrorException("Generation failed: " + e.getMessage(), e);
    }
    record(task, generated, System.nanoTime() - start);
    generated = new GenerationResult(ModelText.clean(generated.text()), generated.promptTokenIds(),
        generated.generatedTokenIds(), generated.stopReason(), generated.prefillMillis(), generated.decodeMillis(),
        generated.executionProvider());
    if (generated.stopReason() == StopReason.CANCELLED || cancellation.isCancelled()) {
      throw new Cancelled(); // also when the caller went away as the last text came: nothing is written
    }
    progress.report("writing the draft");
    ResultWriter.Placeholders placeholders = task.persist()
        ? ResultWriter.Placeholders.fresh()
        : new ResultWriter.Placeholders(task.model().deviceLogicalReference(), null);
    AiTask.Draft draft = task.complete(generated, placeholders.device(), placeholders.draft());
    if (!task.persist()) {
      return new Written(null, task.reply(draft.resource()));
    }
    Resource stored = writer.write(task.model(), draft, placeholders, task.idempotencyKey(), task.supersedes(),
        task.request(), generated);
    // Timings only (never text): first text / done, in ms since the task began, model queue included.
    long done = System.nanoTime();
    log.info("{} wrote {} for {} with model {} ({} tokens, stop: {}; first text after {} ms, done after {} ms)", task.operation(),
        stored.getIdElement().toUnqualified().getValue(), task.target(), task.model().id(),
        generated.generatedTokenIds().length, generated.stopReason(),
        firstText.get() == 0 ? -1 : (firstText.get() - started) / 1_000_000, (done - started) / 1_000_000);
    return new Written(stored, task.reply(stored));
  }

  /** What a caller waits before the first text: inputs, the wait for a model slot and the prefill. */
  private void recordFirstText(AiTask task, long nanos) {
    Timer.builder("medgemma.generation.first.token")
        .description("Time from the operation's start to the first generated text (inputs, queue wait and prefill)")
        .tag("model", task.model().id()).tag("operation", task.operation()).register(meters)
        .record(nanos, TimeUnit.NANOSECONDS);
  }

  private void record(AiTask task, GenerationResult generated, long nanos) {
    String model = task.model().id();
    String operation = task.operation();
    Timer.builder("medgemma.generation.duration").description("Wall time of one generation (prefill and decode)")
        .tag("model", model).tag("operation", operation).register(meters).record(nanos, TimeUnit.NANOSECONDS);
    Counter.builder("medgemma.generation.tokens").description("Tokens generated").baseUnit("tokens")
        .tag("model", model).tag("operation", operation).register(meters)
        .increment(generated.generatedTokenIds().length);
    Counter.builder("medgemma.prompt.tokens").description("Prompt tokens processed").baseUnit("tokens")
        .tag("model", model).tag("operation", operation).register(meters)
        .increment(generated.promptTokenIds().length);
    if (generated.decodeTokensPerSecond() > 0) {
      // No base unit: Prometheus would append it to the name (..._per_second_tokens_s).
      DistributionSummary.builder("medgemma.generation.decode.tokens.per.second")
          .description("Decode speed of one generation, tokens per second")
          .tag("model", model).tag("operation", operation).register(meters)
          .record(generated.decodeTokensPerSecond());
    }
  }
}
