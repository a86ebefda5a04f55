package dev.medgemmafhir.interceptors.review;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.DocumentReference;

/**
 * The records of how an AI draft was made are the server's evidence, not drafts: an input prompt
 * or a model card (AI Transparency on FHIR's AIinputsCS document types) that this server wrote
 * (identified in its {@code urn:medgemma-fhir:} systems) is written only by the server. A client's create, update, patch or delete of one is a 422, and
 * so is {@code $verify} on one (there is nothing for a clinician to accept in a prompt). Reads
 * follow the ordinary rules: a prompt has the draft's subject, so SMART patient scopes confine it to
 * that patient's compartment. Register it with the JPA server's global interceptor service.
 */
@Interceptor
public class AiRecordGuard {

  /** DocumentReference.type system of model cards and input prompts (HL7 AI Transparency on FHIR). */
  public static final String AI_INPUTS_SYSTEM = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIinputsCS";

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
  public void beforeCreate(IBaseResource created, RequestDetails request) {
    check(created, request, "created");
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void beforeUpdate(IBaseResource previous, IBaseResource updated, RequestDetails request) {
    check(previous, request, "changed");
    check(updated, request, "changed");
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
  public void beforeDelete(IBaseResource deleted, RequestDetails request) {
    check(deleted, request, "deleted");
  }

  private static void check(IBaseResource resource, RequestDetails request, String what) {
    if (!isAiRecord(resource)) {
      return;
    }
    if (request != null && request.getUserData().get(ReviewGateInterceptor.VERIFYING) != null) {
      throw new UnprocessableEntityException(AiLabels.reference(resource) + " records how an AI draft was made "
          + "(an input prompt or a model card); it is not a draft and cannot be verified: verify the draft itself");
    }
    if (!(request == null || request instanceof SystemRequestDetails)) {
      throw new UnprocessableEntityException("An AI input prompt or model card (" + AiLabels.reference(resource)
          + ") is written only by this server, with the draft it explains; it cannot be " + what + " by a client");
    }
  }

  /**
   * Prefix of the identifier systems the operations give their prompts and model cards
   * ({@code urn:medgemma-fhir:prompt}, {@code urn:medgemma-fhir:model-card}; operations' AiTransparency).
   */
  static final String SERVER_IDENTIFIER_PREFIX = "urn:medgemma-fhir:";

  /** A DocumentReference of an AIinputsCS type (input prompt, model card) with one of this server's identifiers. */
  static boolean isAiRecord(IBaseResource resource) {
    return resource instanceof DocumentReference document
        && document.getType().getCoding().stream().anyMatch(c -> AI_INPUTS_SYSTEM.equals(c.getSystem()))
        && document.getIdentifier().stream().anyMatch(i -> i.hasSystem()
            && i.getSystem().startsWith(SERVER_IDENTIFIER_PREFIX));
  }
}
