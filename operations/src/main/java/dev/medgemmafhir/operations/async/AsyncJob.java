package dev.medgemmafhir.operations.async;

import java.time.Instant;

/**
 * One asynchronous operation as stored in the database, so any replica can answer a poll.
 *
 * @param httpStatus the operation's outcome status once it ended (200/201, or the error's status)
 * @param resultJson the returned resource (or the error's OperationOutcome) as FHIR JSON
 * @param location the written resource's versioned reference, when it wrote one
 */
public record AsyncJob(
    String id,
    String operation,
    String target,
    State state,
    String progress,
    Integer httpStatus,
    String location,
    String resultJson,
    String owner,
    Instant created,
    Instant heartbeat) {

  public enum State {
    QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED;

    public boolean ended() {
      return this == COMPLETED || this == FAILED || this == CANCELLED;
    }
  }
}
