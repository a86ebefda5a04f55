package dev.medgemmafhir.operations.async;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.ResponseDetails;
import dev.medgemmafhir.operations.run.AiTask;
import java.util.Arrays;
import java.util.Locale;
import java.util.function.BiConsumer;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Resource;

/**
 * The kick-off of FHIR's asynchronous pattern: with {@code Prefer: respond-async} an operation
 * is stored as a job and answered with 202 and a {@code Content-Location} to poll.
 *
 * <p>Register it as a server interceptor too: HAPI answers operations with 200, and this is
 * where the status of an accepted kick-off becomes 202.
 */
@Interceptor
public final class AsyncKickoff {

  /** Path of the status endpoint, relative to the FHIR base. */
  public static final String STATUS_OPERATION = "$async-status";
  /** The {@code Prefer} token (RFC 7240 allows extension preferences) asking for no second live job. */
  public static final String UNLESS_RUNNING = "unless-running";
  private static final String ACCEPTED = AsyncKickoff.class.getName() + ".accepted";

  private final AsyncJobs jobs;
  private final JobEnd jobEnd;

  public AsyncKickoff(AsyncJobs jobs) {
    this(jobs, JobEnd.NONE);
  }

  /** @param jobEnd told how each accepted job ended (the audit trail) */
  public AsyncKickoff(AsyncJobs jobs, JobEnd jobEnd) {
    this.jobs = jobs;
    this.jobEnd = jobEnd;
  }

  /** Whether the client asked for the asynchronous pattern. */
  public static boolean wantsAsync(RequestDetails request) {
    String prefer = request.getHeader("Prefer");
    return prefer != null && prefer.toLowerCase(Locale.ROOT).contains("respond-async");
  }

  /**
   * Whether the client asked for no second job ({@code Prefer: respond-async, unless-running}): start
   * one only when no job of the operation on the same resource is queued or running on any replica.
   */
  public static boolean unlessRunning(RequestDetails request) {
    String prefer = request.getHeader("Prefer");
    return prefer != null && Arrays.stream(prefer.split(","))
        .anyMatch(preference -> UNLESS_RUNNING.equalsIgnoreCase(preference.strip()));
  }

  /**
   * Stores and starts the job; returns the body of the 202 answer. With {@link #unlessRunning} and a
   * live job of the operation on the target, starts nothing and answers 200 with an issue coded
   * {@code duplicate}: that job's id is no part of the answer, since whoever holds it may poll and
   * cancel the job, which may be another client's.
   */
  public OperationOutcome accept(AiTask task, RequestDetails request) {
    RequestDetails kickoff = detached(request);
    BiConsumer<Integer, Resource> onEnd =
        (status, result) -> jobEnd.ended(kickoff, status, result);
    OperationOutcome outcome = new OperationOutcome();
    if (unlessRunning(request)) {
      AsyncJobs.Submitted job = jobs.submitUnlessLive(task, onEnd);
      if (!job.started()) {
        outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.INFORMATION)
            .setCode(OperationOutcome.IssueType.DUPLICATE)
            .setDiagnostics("Not started: $" + task.operation() + " on " + task.target()
                + " is already queued or running");
        return outcome;
      }
      return accepted(task, job.id(), request, outcome);
    }
    return accepted(task, jobs.submit(task, onEnd), request, outcome);
  }

  private static OperationOutcome accepted(AiTask task, String id, RequestDetails request, OperationOutcome outcome) {
    String statusUrl = request.getFhirServerBase() + "/" + STATUS_OPERATION + "?_jobId=" + id;
    if (request instanceof ca.uhn.fhir.rest.server.servlet.ServletRequestDetails servlet) {
      servlet.getServletResponse().addHeader("Content-Location", statusUrl);
    }
    request.getUserData().put(ACCEPTED, Boolean.TRUE);
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.INFORMATION)
        .setCode(OperationOutcome.IssueType.INFORMATIONAL)
        .setDiagnostics("Accepted: $" + task.operation() + " on " + task.target() + " runs as job " + id
            + "; poll " + statusUrl);
    return outcome;
  }

  /** What the job's end needs of its kick-off, kept after the HTTP request is gone. */
  private static RequestDetails detached(RequestDetails request) {
    ca.uhn.fhir.rest.api.server.SystemRequestDetails copy = new ca.uhn.fhir.rest.api.server.SystemRequestDetails();
    copy.setOperation(request.getOperation());
    copy.setResourceName(request.getResourceName());
    copy.setId(request.getId());
    copy.setRequestType(request.getRequestType());
    copy.getUserData().putAll(request.getUserData());
    return copy;
  }

  @Hook(Pointcut.SERVER_OUTGOING_RESPONSE)
  public void acceptedIs202(RequestDetails request, ResponseDetails response) {
    if (Boolean.TRUE.equals(request.getUserData().get(ACCEPTED))) {
      response.setResponseCode(202);
    }
  }
}
