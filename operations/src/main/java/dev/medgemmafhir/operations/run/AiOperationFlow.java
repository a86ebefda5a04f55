package dev.medgemmafhir.operations.run;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.OperationRequestData;
import dev.medgemmafhir.operations.async.AsyncKickoff;
import java.util.Optional;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Resource;

/**
 * The one path every AI operation takes once its task is prepared: record the request for the audit
 * trail, answer a dry run with the prompt, answer a retry with the draft an identical request already
 * wrote, then run now or as an asynchronous job. Generating and writing is the {@link AiTaskRunner}'s
 * (the writing itself, in one transaction, the {@link ResultWriter}'s), the same for both paths.
 */
public final class AiOperationFlow {

  private final AiTaskRunner runner;
  private final ResultWriter writer;
  private final AsyncKickoff async;

  public AiOperationFlow(AiTaskRunner runner, ResultWriter writer, AsyncKickoff async) {
    this.runner = runner;
    this.writer = writer;
    this.async = async;
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
    Optional<Resource> existing = task.persist() && task.reusesEarlierDraft() ? writer.findDraft(task.draftType(), task.idempotencyKey())
        : Optional.empty();
    if (existing.isPresent()) {
      return existing.get();
    }
    if (AsyncKickoff.wantsAsync(request)) {
      return async.accept(task, request);
    }
    return runner.runNow(task);
  }
}
