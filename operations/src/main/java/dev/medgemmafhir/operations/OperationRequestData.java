package dev.medgemmafhir.operations;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.run.AiTask;
import dev.medgemmafhir.vocabulary.RequestData;

/**
 * What an AI operation leaves on its request for the audit interceptor: which model ran and on
 * what, under the keys of {@link RequestData}.
 */
public final class OperationRequestData {

  private OperationRequestData() {}

  public static void record(RequestDetails request, AiTask task) {
    record(request, task.model(), task.target());
  }

  /** For an operation that knows its model and target before its task is complete. */
  public static void record(RequestDetails request, LoadedModel model, String target) {
    request.getUserData().put(RequestData.MODEL, model.id());
    var identifier = model.deviceIdentifier();
    request.getUserData().put(RequestData.MODEL_DEVICE, identifier.getSystem() + "|" + identifier.getValue());
    request.getUserData().put(RequestData.TARGET, target);
  }
}
