package dev.medgemmafhir.interceptors.labels;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * AI labels cannot be lost: an update that drops {@code meta.security} AIAST from an AI-written
 * resource, and any update or delete of an AI Provenance, is rejected with 422.
 *
 * <p>Register it with the JPA server's global interceptor service, so it guards every write
 * (REST, transactions, patches and internal DAO calls), not only the REST endpoint.
 */
@Interceptor
public class AiLabelProtectionInterceptor {

  private static final Logger LOG = LoggerFactory.getLogger(AiLabelProtectionInterceptor.class);

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void beforeUpdate(IBaseResource previous, IBaseResource updated) {
    if (AiLabels.isAiProvenance(previous)) {
      throw reject(previous, "AI Provenance is append-only: "
          + id(previous) + " cannot be changed; add a new Provenance instead");
    }
    if (AiLabels.isAiAsserted(previous) && !AiLabels.isAiAsserted(updated)) {
      throw reject(previous, id(previous) + " was written by AI: the update must keep meta.security "
          + AiVocabulary.OBSERVATION_VALUE + "|" + AiVocabulary.AIAST);
    }
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
  public void beforeDelete(IBaseResource deleted) {
    if (AiLabels.isAiProvenance(deleted)) {
      throw reject(deleted, "AI Provenance is append-only: " + id(deleted) + " cannot be deleted");
    }
  }

  private static UnprocessableEntityException reject(IBaseResource resource, String message) {
    // The refusal itself is logged once per request (RefusedRequestLog); this names the hook.
    LOG.debug("Rejected a write that would lose AI transparency on {}", id(resource));
    return new UnprocessableEntityException(message);
  }

  private static String id(IBaseResource resource) {
    return AiLabels.reference(resource);
  }
}
