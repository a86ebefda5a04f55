package dev.medgemmafhir.operations;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.model.LoadedModel;
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
    record(request, task.model(), task.target());
  }

  /** For an operation that knows its model and target before its task is complete. */
  public static void record(RequestDetails request, LoadedModel model, String target) {
    request.getUserData().put(MODEL_ID, model.id());
    var identifier = model.deviceIdentifier();
    request.getUserData().put(MODEL_DEVICE_IDENTIFIER, identifier.getSystem() + "|" + identifier.getValue());
    request.getUserData().put(TARGET, target);
  }
}
