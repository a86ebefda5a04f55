package dev.medgemmafhir.operations;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.run.AiTask;

/**
 * What an AI operation leaves on its request for the audit interceptor: which model ran and on
 * what. Keys are plain strings so the interceptors module needs no dependency on this one.
 */
public final class OperationRequestData {

  /** The model's configured id. */
  public static final String MODEL_ID = "medgemma.model";
  /** The model's Device identifier ({@code system|value}). */
  public static final String MODEL_DEVICE_IDENTIFIER = "medgemma.model.device";
  /** The operation's target, e.g. {@code Encounter/12}. */
  public static final String TARGET = "medgemma.target";

  private OperationRequestData() {}

  public static void record(RequestDetails request, AiTask task) {
    request.getUserData().put(MODEL_ID, task.model().id());
    var identifier = task.model().deviceIdentifier();
    request.getUserData().put(MODEL_DEVICE_IDENTIFIER, identifier.getSystem() + "|" + identifier.getValue());
    request.getUserData().put(TARGET, task.target());
  }
}
