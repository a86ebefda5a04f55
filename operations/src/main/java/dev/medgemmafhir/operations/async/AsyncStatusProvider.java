package dev.medgemmafhir.operations.async;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.model.api.annotation.Description;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.StringType;

/**
 * The status URL of FHIR's asynchronous pattern: {@code GET} answers 202 with {@code X-Progress}
 * while the job runs and 200 with a batch-response Bundle when it ended; {@code DELETE} cancels it.
 */
public final class AsyncStatusProvider {

  /** How long a client should wait between polls. */
  static final int POLL_SECONDS = 2;

  private final AsyncJobs jobs;
  private final FhirContext fhir;

  public AsyncStatusProvider(AsyncJobs jobs, FhirContext fhir) {
    this.jobs = jobs;
    this.fhir = fhir;
  }

  @Operation(name = AsyncKickoff.STATUS_OPERATION, idempotent = true, deleteEnabled = true, manualResponse = true)
  @Description(shortDefinition = "Status of an asynchronous $summarize or $draft-report",
      value = "GET: 202 with X-Progress while the job runs; 200 with a batch-response Bundle whose first entry"
          + " carries the operation's result (or its error) once it ended. DELETE: cancels a running job, or forgets"
          + " one that already ended (its draft stays), answering 202 with an OperationOutcome that says which;"
          + " later polls answer 404.")
  public void status(
      @Description(value = "The job id from the kick-off's Content-Location")
      @OperationParam(name = "_jobId", min = 1, max = 1, typeName = "string") StringType jobId,
      ServletRequestDetails request) throws IOException {
    if (jobId == null || jobId.isEmpty()) {
      throw new InvalidRequestException("_jobId is required");
    }
    String id = jobId.getValue();
    HttpServletResponse response = request.getServletResponse();
    AsyncJob job = jobs.find(id).filter(j -> j.state() != AsyncJob.State.CANCELLED)
        .orElseThrow(() -> new ResourceNotFoundException("No asynchronous job " + id));

    if (request.getRequestType() == RequestTypeEnum.DELETE) {
      if (jobs.cancel(id)) {
        write(response, 202, outcome(OperationOutcome.IssueSeverity.INFORMATION, "Job " + id + " cancelled"));
        return;
      }
      // It had ended: as in FHIR's asynchronous pattern the client is done with the job, which is
      // forgotten; nothing was cancelled, and a draft it wrote stays (withdraw it with $verify reject).
      AsyncJob ended = jobs.find(id).orElse(job);
      jobs.forget(id);
      write(response, 202, outcome(OperationOutcome.IssueSeverity.INFORMATION, "Job " + id + " had already ended ("
          + ended.state().name().toLowerCase(java.util.Locale.ROOT) + ") and was not cancelled"
          + (ended.location() == null ? "" : "; " + ended.location().replaceFirst("/_history/.*$", "")
              + ", which it wrote, stays a draft until a clinician verifies or rejects it ($verify)")
          + "; the job is forgotten"));
      return;
    }
    if (!job.state().ended()) {
      response.setHeader("X-Progress", job.progress() == null ? job.state().name().toLowerCase() : job.progress());
      response.setHeader("Retry-After", Integer.toString(POLL_SECONDS));
      response.setStatus(202);
      return;
    }
    write(response, 200, resultBundle(job));
  }

  private Bundle resultBundle(AsyncJob job) {
    Bundle bundle = new Bundle().setType(Bundle.BundleType.BATCHRESPONSE);
    Bundle.BundleEntryComponent entry = bundle.addEntry();
    int status = job.httpStatus() == null ? 500 : job.httpStatus();
    entry.getResponse().setStatus(status + " " + reason(status));
    Resource result = job.resultJson() == null ? null : (Resource) fhir.newJsonParser().parseResource(job.resultJson());
    if (job.state() == AsyncJob.State.COMPLETED) {
      entry.setResource(result);
      if (job.location() != null) {
        entry.getResponse().setLocation(job.location());
      }
    } else {
      entry.getResponse().setOutcome(result != null ? result
          : outcome(OperationOutcome.IssueSeverity.ERROR, "The operation failed"));
    }
    return bundle;
  }

  private void write(HttpServletResponse response, int status, Resource body) throws IOException {
    response.setStatus(status);
    response.setContentType("application/fhir+json;charset=utf-8");
    response.getOutputStream().write(fhir.newJsonParser().encodeResourceToString(body).getBytes(StandardCharsets.UTF_8));
  }

  private static OperationOutcome outcome(OperationOutcome.IssueSeverity severity, String message) {
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(severity).setCode(OperationOutcome.IssueType.INFORMATIONAL).setDiagnostics(message);
    return outcome;
  }

  private static String reason(int status) {
    return switch (status) {
      case 200 -> "OK";
      case 201 -> "Created";
      case 400 -> "Bad Request";
      case 404 -> "Not Found";
      case 422 -> "Unprocessable Entity";
      case 429 -> "Too Many Requests";
      case 502 -> "Bad Gateway";
      case 503 -> "Service Unavailable";
      default -> status >= 500 ? "Server Error" : "";
    };
  }
}
