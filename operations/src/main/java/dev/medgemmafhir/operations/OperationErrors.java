package dev.medgemmafhir.operations;

import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;

/**
 * The failures of the AI operations that HAPI has no exception class for, with the HTTP status
 * FHIR_CONVENTIONS.md assigns them. HAPI renders each as an OperationOutcome.
 */
public final class OperationErrors {

  private OperationErrors() {}

  /** 429: the inference queue is full; the client should retry after {@code retryAfterSeconds}. */
  public static final class QueueFull extends BaseServerResponseException {
    public QueueFull(String message, int retryAfterSeconds) {
      super(429, message);
      addResponseHeader("Retry-After", Integer.toString(retryAfterSeconds));
    }
  }

  /** 502: an upstream system (the PACS) failed or answered something unusable. */
  public static class UpstreamFailed extends BaseServerResponseException {
    public UpstreamFailed(String message) {
      super(502, message);
    }
  }

  /** 499 (the client closed the request, nginx's code): a streamed generation was cancelled; only the audit trail sees it. */
  public static final class ClientClosed extends BaseServerResponseException {
    public ClientClosed(String message) {
      super(499, message);
    }
  }

  /** 503: the model is not loaded (still loading, or failed to load). */
  public static final class ModelUnavailable extends BaseServerResponseException {
    public ModelUnavailable(String message, int retryAfterSeconds) {
      super(503, message);
      addResponseHeader("Retry-After", Integer.toString(retryAfterSeconds));
    }
  }
}
