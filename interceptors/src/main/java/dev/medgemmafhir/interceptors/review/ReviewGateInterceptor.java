package dev.medgemmafhir.interceptors.review;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import java.util.Set;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An AI draft becomes final only through a clinician: a write that turns an AIAST-labelled
 * DocumentReference ({@code docStatus}) or DiagnosticReport ({@code status}) from a draft into a
 * final state is rejected with 422 and a pointer to {@code $verify}, unless it is the
 * {@code $verify} operation itself writing that very resource (see {@link #VERIFYING}).
 * Creating an AI-labelled resource that is already final is rejected for the same reason.
 *
 * <p>Register it with the JPA server's global interceptor service, so it guards every write.
 */
@Interceptor
public class ReviewGateInterceptor {

  /**
   * Request user-data key set by {@code $verify} on the request details of its own transaction;
   * the value is the {@code Type/id} being verified. Only that resource may become final.
   */
  public static final String VERIFYING = "medgemma.review.verifying";

  private static final Logger LOG = LoggerFactory.getLogger(ReviewGateInterceptor.class);

  private static final Set<String> FINAL_DIAGNOSTIC_REPORT = Set.of("final", "amended", "corrected", "appended");
  private static final Set<String> FINAL_DOCUMENT = Set.of("final", "amended");

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
  public void beforeCreate(IBaseResource created, RequestDetails request) {
    if (AiLabels.isAiAsserted(created) && isFinal(created)) {
      throw reject(created, "An AI-written " + created.fhirType()
          + " cannot be created as final: create it as a preliminary draft and have a clinician "
          + "accept it with $verify");
    }
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void beforeUpdate(IBaseResource previous, IBaseResource updated, RequestDetails request) {
    if (!AiLabels.isAiAsserted(previous) || isFinal(previous) || !isFinal(updated)) {
      return;
    }
    String reference = AiLabels.reference(previous);
    if (request != null && reference.equals(request.getUserData().get(VERIFYING))) {
      return;
    }
    throw reject(previous, reference + " is an AI draft: only a clinician can make it final, with POST "
        + reference + "/$verify (decision=accept)");
  }

  /** Whether the resource is in a state only a clinician's review may reach. */
  static boolean isFinal(IBaseResource resource) {
    if (resource instanceof DocumentReference document) {
      return document.hasDocStatus() && FINAL_DOCUMENT.contains(document.getDocStatus().toCode());
    }
    if (resource instanceof DiagnosticReport report) {
      return report.hasStatus() && FINAL_DIAGNOSTIC_REPORT.contains(report.getStatus().toCode());
    }
    return false;
  }

  private static UnprocessableEntityException reject(IBaseResource resource, String message) {
    LOG.warn("Rejected a write that would finalise an AI draft without review: {}", AiLabels.reference(resource));
    return new UnprocessableEntityException(message);
  }
}
