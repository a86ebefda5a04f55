package dev.medgemmafhir.operations.async;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import org.hl7.fhir.instance.model.api.IBaseResource;

/** Told how an accepted asynchronous job ended, so that the audit trail records results and failures too. */
@FunctionalInterface
public interface JobEnd {

  JobEnd NONE = (kickoff, status, result) -> { };

  /**
   * @param kickoff a copy of the kick-off request: its operation, target and user data (who asked, which model)
   * @param status the HTTP status the job ended with (201 written, 200 unsaved, or the error's)
   * @param result the draft, or the OperationOutcome of a failure
   */
  void ended(RequestDetails kickoff, int status, IBaseResource result);
}
