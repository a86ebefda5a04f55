package dev.medgemmafhir.interceptors.review;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import java.util.Locale;
import java.util.Set;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Resource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The clinician review rules, judged on the resource as it will be after the write (every write
 * path: create, update, patch, {@code $meta-add}, transactions, internal DAO calls):
 *
 * <ul>
 *   <li>only {@code $verify} makes a resource "AI-written and final": any other write whose result
 *       is an AIAST-labelled DocumentReference ({@code docStatus}) or DiagnosticReport
 *       ({@code status}) in a final state that the previous version was not in (a draft made final,
 *       a final document given the AIAST label, an AI document created final) is a 422 pointing
 *       to {@code $verify};
 *   <li>a verified (AI and final) resource is immutable: changing its content or deleting it is a
 *       422; the correction paths are {@code $verify} again ({@code accept} with new {@code text}:
 *       amended; {@code reject}: entered-in-error). Label-only changes ({@code $meta-add} of a tag)
 *       pass;
 *   <li>only this server records a clinician's review: a client write of a Provenance with an agent
 *       of type {@code verifier} is a 422.
 * </ul>
 *
 * <p>{@code $verify} marks its own transaction with {@link #VERIFYING}; only the resource named
 * there may pass the first two rules. Register it with the JPA server's global interceptor service.
 */
@Interceptor
public class ReviewGateInterceptor {

  /**
   * Request user-data key set by {@code $verify} on the request details of its own transaction;
   * the value is the {@code Type/id} being verified. Only that resource may become final.
   */
  public static final String VERIFYING = "medgemma.review.verifying";

  /** Provenance agent type of a clinician's review (provenance-participant-type). */
  public static final String VERIFIER = "verifier";

  private static final Logger LOG = LoggerFactory.getLogger(ReviewGateInterceptor.class);

  private static final Set<String> FINAL_DIAGNOSTIC_REPORT = Set.of("final", "amended", "corrected", "appended");
  private static final Set<String> FINAL_DOCUMENT = Set.of("final", "amended");

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
  public void beforeCreate(IBaseResource created, RequestDetails request) {
    check(null, created, request);
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void beforeUpdate(IBaseResource previous, IBaseResource updated, RequestDetails request) {
    check(previous, updated, request);
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
  public void beforeDelete(IBaseResource deleted, RequestDetails request) {
    if (isVerified(deleted) && !verifying(request, deleted)) {
      String reference = AiLabels.reference(deleted);
      throw reject(deleted, reference + " is a clinician-verified AI document and cannot be deleted; to withdraw it, "
          + "POST " + reference + "/$verify with decision=reject (it becomes entered-in-error)");
    }
  }

  private static void check(IBaseResource previous, IBaseResource after, RequestDetails request) {
    if (after instanceof Provenance provenance && hasVerifierAgent(provenance) && !serverWrite(request)) {
      throw reject(after, "Only this server records a clinician's review: a Provenance with an agent of type '"
          + VERIFIER + "' is written by POST [type]/[id]/$verify, not by a client");
    }
    if (verifying(request, after)) {
      return;
    }
    String reference = AiLabels.reference(after);
    if (isVerified(previous)) {
      if (!sameContent(previous, after)) {
        throw reject(after, reference + " was verified by a clinician and cannot be changed by a plain write; "
            + "amend it with POST " + reference + "/$verify (decision=accept and the corrected text), or withdraw it "
            + "with decision=reject (entered-in-error)");
      }
      return;
    }
    if (isVerified(after)) {
      throw reject(after, previous == null
          ? "An AI-written " + after.fhirType() + " cannot be created as final: create it as a preliminary draft "
              + "and have a clinician accept it with POST [type]/[id]/$verify"
          : reference + " would become AI-written and final: only a clinician can make an AI draft final, with POST "
              + reference + "/$verify (decision=accept)");
    }
  }

  /** AI-written and in a state only a clinician's review may reach. */
  static boolean isVerified(IBaseResource resource) {
    return resource != null && AiLabels.isAiAsserted(resource) && isFinal(resource);
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

  static boolean hasVerifierAgent(Provenance provenance) {
    return provenance.getAgent().stream()
        .flatMap(agent -> agent.getType().getCoding().stream())
        .map(Coding::getCode)
        .anyMatch(code -> code != null && VERIFIER.equals(code.strip().toLowerCase(Locale.ROOT)));
  }

  /** Everything but {@code id} and {@code meta} (version, timestamps, labels) is unchanged. */
  private static boolean sameContent(IBaseResource previous, IBaseResource after) {
    if (!(previous instanceof Resource before) || !(after instanceof Resource now)) {
      return false;
    }
    Resource a = before.copy();
    Resource b = now.copy();
    for (Resource r : new Resource[] {a, b}) {
      r.setIdElement(null);
      r.setMeta(null);
    }
    return a.equalsDeep(b);
  }

  private static boolean verifying(RequestDetails request, IBaseResource resource) {
    return request != null && AiLabels.reference(resource).equals(request.getUserData().get(VERIFYING));
  }

  /** The server's own writes ({@code $verify}, the AI operations) run with system request details. */
  private static boolean serverWrite(RequestDetails request) {
    return request == null || request instanceof SystemRequestDetails;
  }

  private static UnprocessableEntityException reject(IBaseResource resource, String message) {
    // The refusal itself is logged once per request (RefusedRequestLog); this names the hook.
    LOG.debug("Rejected a write that bypasses clinician review: {}", AiLabels.reference(resource));
    return new UnprocessableEntityException(message);
  }
}
