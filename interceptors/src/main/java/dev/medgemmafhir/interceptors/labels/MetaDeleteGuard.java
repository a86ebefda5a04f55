package dev.medgemmafhir.interceptors.labels;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import java.nio.charset.StandardCharsets;

/**
 * {@code $meta-delete} edits labels without an ordinary update, so it gets its own check: a
 * request that would remove the AIAST label is rejected with 422. Register it on the REST server.
 */
@Interceptor
public class MetaDeleteGuard {

  @Hook(Pointcut.SERVER_INCOMING_REQUEST_PRE_HANDLED)
  public void beforeMetaDelete(RequestDetails request) {
    String operation = request.getOperation();
    if (operation == null || !operation.replace("$", "").equals("meta-delete")) {
      return;
    }
    byte[] body = request.loadRequestContents();
    String text = body == null ? "" : new String(body, StandardCharsets.UTF_8);
    if (text.contains(AiVocabulary.AIAST)) {
      throw new UnprocessableEntityException("The AIAST label marks AI-written content and cannot be removed"
          + (request.getId() == null ? "" : " from " + request.getResourceName() + "/" + request.getId().getIdPart()));
    }
  }
}
