package dev.medgemmafhir.interceptors.review;

import dev.medgemmafhir.vocabulary.RequestData;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.model.api.annotation.Description;
import ca.uhn.fhir.rest.annotation.IdParam;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.AuthenticationException;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import dev.medgemmafhir.interceptors.smart.SmartPrincipal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations.DocumentReferenceStatus;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Clinician review of AI drafts: {@code POST DocumentReference/{id}/$verify} and
 * {@code POST DiagnosticReport/{id}/$verify}. {@code decision=accept} makes the draft final
 * (optionally with the clinician's edited {@code text} replacing the drafted attachment; the
 * AIAST label stays), {@code decision=reject} marks it entered-in-error. Either way one
 * transaction writes the resource and a Provenance whose {@code verifier} agent is the
 * Practitioner: the token's {@code fhirUser}, or with security disabled the {@code practitioner}
 * parameter.
 */
public class ClinicianReviewProvider {

  public static final String OPERATION = "$verify";
  static final String PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
  static final String MARKDOWN = "text/markdown; charset=utf-8";
  private static final String POLICY = " Needs the target type's 'u' scope (patient/ scopes: the resource must be in the "
      + "token's patient compartment) and a token whose fhirUser is a Practitioner; with "
      + "medgemma.security.enabled=false the 'practitioner' parameter names the reviewer.";

  private static final Logger LOG = LoggerFactory.getLogger(ClinicianReviewProvider.class);

  private final DaoRegistry daos;
  private final IFhirSystemDao<Bundle, ?> system;
  private final boolean securityEnabled;

  public ClinicianReviewProvider(DaoRegistry daos, IFhirSystemDao<Bundle, ?> system, boolean securityEnabled) {
    this.daos = daos;
    this.system = system;
    this.securityEnabled = securityEnabled;
  }

  @Operation(name = OPERATION, typeName = "DocumentReference", idempotent = false)
  @Description(shortDefinition = "Clinician review of an AI-written DocumentReference",
      value = "accept: docStatus final (edited 'text' replaces the attachment; on a verified document, new 'text' "
          + "amends it); reject: entered-in-error. "
          + "Adds a Provenance with a verifier agent." + POLICY)
  public DocumentReference verifyDocument(
      @IdParam IdType id,
      @OperationParam(name = "decision", min = 1, max = 1, typeName = "code") CodeType decision,
      @OperationParam(name = "text", max = 1, typeName = "string") StringType text,
      @OperationParam(name = "note", max = 1, typeName = "string") StringType note,
      @OperationParam(name = "practitioner", max = 1, typeName = "Reference") Reference practitioner,
      RequestDetails request) {
    return (DocumentReference) verify("DocumentReference", id, decision, text, null, note, practitioner, request);
  }

  @Operation(name = OPERATION, typeName = "DiagnosticReport", idempotent = false)
  @Description(shortDefinition = "Clinician review of an AI-written DiagnosticReport",
      value = "accept: status final (edited 'text' replaces presentedForm, 'conclusion' the conclusion; on a verified "
          + "report, new text or conclusion amends it); "
          + "reject: entered-in-error. Adds a Provenance with a verifier agent." + POLICY)
  public DiagnosticReport verifyReport(
      @IdParam IdType id,
      @OperationParam(name = "decision", min = 1, max = 1, typeName = "code") CodeType decision,
      @OperationParam(name = "text", max = 1, typeName = "string") StringType text,
      @OperationParam(name = "conclusion", max = 1, typeName = "string") StringType conclusion,
      @OperationParam(name = "note", max = 1, typeName = "string") StringType note,
      @OperationParam(name = "practitioner", max = 1, typeName = "Reference") Reference practitioner,
      RequestDetails request) {
    return (DiagnosticReport) verify("DiagnosticReport", id, decision, text, conclusion, note, practitioner, request);
  }

  private IBaseResource verify(String type, IdType id, CodeType decisionParam, StringType text, StringType conclusion,
      StringType note, Reference practitionerParam, RequestDetails request) {
    String decision = decisionParam == null || decisionParam.getValue() == null
        ? "" : decisionParam.getValue().strip().toLowerCase(Locale.ROOT);
    if (!decision.equals("accept") && !decision.equals("reject")) {
      throw new InvalidRequestException("decision must be 'accept' or 'reject'");
    }
    boolean accept = decision.equals("accept");
    if (!accept && (has(text) || has(conclusion))) {
      throw new InvalidRequestException("text and conclusion are only accepted with decision=accept");
    }
    Reference verifier = verifier(practitionerParam, request);
    request.getUserData().put(RequestData.VERIFIER, verifier);
    request.getUserData().put(RequestData.DECISION, decision);

    String reference = type + "/" + id.getIdPart();
    IBaseResource draft = daos.getResourceDao(type).read(new IdType(reference), new SystemRequestDetails());
    if (!AiLabels.isAiAsserted(draft)) {
      throw new UnprocessableEntityException(reference + " is not AI-written (no meta.security AIAST): "
          + "$verify reviews AI drafts only");
    }
    // A verified resource is corrected only here: accept with new text amends it, reject withdraws it.
    boolean amend = ReviewGateInterceptor.isVerified(draft);
    if (!amend && !isDraft(draft)) {
      throw new ResourceVersionConflictException(reference + " is not awaiting review: it was rejected "
          + "(entered-in-error) or is in no reviewable state");
    }
    if (amend && accept && !has(text) && !has(conclusion)) {
      throw new ResourceVersionConflictException(reference + " was already verified: to amend it, send decision=accept "
          + "with the corrected 'text'" + ("DiagnosticReport".equals(type) ? " or 'conclusion'" : "")
          + "; to withdraw it, decision=reject");
    }
    String reviewedVersion = draft.getIdElement().getVersionIdPart();
    if (draft instanceof DocumentReference document) {
      review(document, accept, amend, text, verifier);
    } else {
      review((DiagnosticReport) draft, accept, amend, text, conclusion, verifier);
    }

    Bundle transaction = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    draft.setId(reference);
    transaction.addEntry().setResource((org.hl7.fhir.r4.model.Resource) draft).getRequest()
        .setMethod(Bundle.HTTPVerb.PUT).setUrl(reference).setIfMatch("W/\"" + reviewedVersion + "\"");
    transaction.addEntry().setFullUrl("urn:uuid:" + UUID.randomUUID())
        .setResource(provenance(reference, reviewedVersion, decision, note, verifier))
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Provenance");

    SystemRequestDetails write = new SystemRequestDetails();
    write.getUserData().put(ReviewGateInterceptor.VERIFYING, reference);
    Bundle response = system.transaction(write, transaction);
    String location = response.getEntry().get(0).getResponse().getLocation();
    LOG.info("{}: {} by {} -> {}", OPERATION, decision, verifier.getReference(), location);
    return daos.getResourceDao(type).read(new IdType(location), new SystemRequestDetails());
  }

  private Reference verifier(Reference practitionerParam, RequestDetails request) {
    IdType practitioner;
    if (securityEnabled) {
      if (practitionerParam != null && !practitionerParam.isEmpty()) {
        throw new InvalidRequestException("The reviewer is the access token's fhirUser; leave out the "
            + "'practitioner' parameter");
      }
      SmartPrincipal principal = SmartPrincipal.of(request)
          .orElseThrow(() -> new AuthenticationException("$verify needs an access token"));
      practitioner = principal.fhirUserId(request.getFhirServerBase());
      if (practitioner == null || !"Practitioner".equals(practitioner.getResourceType())) {
        throw new ForbiddenOperationException("Only a clinician can verify an AI draft: the access token's "
            + "fhirUser must be a Practitioner (it is " + (principal.fhirUser() == null ? "absent" : principal.fhirUser())
            + ")");
      }
      requireExisting(practitioner, true);
    } else {
      if (practitionerParam == null || !practitionerParam.hasReference()) {
        throw new InvalidRequestException("'practitioner' (a Reference to the reviewing Practitioner) is required "
            + "while medgemma.security.enabled is false");
      }
      practitioner = new IdType(practitionerParam.getReference()).toUnqualifiedVersionless();
      if (!"Practitioner".equals(practitioner.getResourceType()) || !practitioner.hasIdPart()) {
        throw new InvalidRequestException("'practitioner' must reference a Practitioner, e.g. Practitioner/123");
      }
      requireExisting(practitioner, false);
    }
    return new Reference(practitioner.getValue());
  }

  private void requireExisting(IdType practitioner, boolean fromToken) {
    try {
      daos.getResourceDao("Practitioner").read(practitioner, new SystemRequestDetails());
    } catch (BaseServerResponseException e) {
      String message = practitioner.getValue() + " does not exist on this server";
      if (fromToken) {
        throw new ForbiddenOperationException("The access token's fhirUser " + message);
      }
      throw new InvalidRequestException("'practitioner' " + message);
    }
  }

  static boolean isDraft(IBaseResource resource) {
    if (resource instanceof DocumentReference document) {
      return document.getStatus() != DocumentReferenceStatus.ENTEREDINERROR
          && (!document.hasDocStatus() || document.getDocStatus() == DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    }
    if (resource instanceof DiagnosticReport report) {
      return List.of(DiagnosticReport.DiagnosticReportStatus.REGISTERED, DiagnosticReport.DiagnosticReportStatus.PARTIAL,
          DiagnosticReport.DiagnosticReportStatus.PRELIMINARY).contains(report.getStatus());
    }
    return false;
  }

  private static void review(DocumentReference document, boolean accept, boolean amend, StringType text,
      Reference verifier) {
    if (!accept) {
      document.setDocStatus(DocumentReference.ReferredDocumentStatus.ENTEREDINERROR);
      document.setStatus(DocumentReferenceStatus.ENTEREDINERROR);
      return;
    }
    document.setDocStatus(amend ? DocumentReference.ReferredDocumentStatus.AMENDED
        : DocumentReference.ReferredDocumentStatus.FINAL);
    document.setAuthenticator(verifier.copy());
    if (document.hasDescription()) {
      document.setDescription(verifiedWording(document.getDescription()));
    }
    document.getContent().forEach(c -> c.getAttachment().setTitle(verifiedWording(c.getAttachment().getTitle())));
    if (has(text)) {
      Attachment attachment = document.getContent().stream()
          .map(DocumentReference.DocumentReferenceContentComponent::getAttachment)
          .filter(a -> a.hasData() || (a.hasContentType() && a.getContentType().startsWith("text/")))
          .findFirst()
          .orElseGet(() -> document.addContent().getAttachment().setContentType(MARKDOWN));
      replace(attachment, text.getValue());
    }
  }

  private static void review(DiagnosticReport report, boolean accept, boolean amend, StringType text,
      StringType conclusion, Reference verifier) {
    if (!accept) {
      report.setStatus(DiagnosticReport.DiagnosticReportStatus.ENTEREDINERROR);
      return;
    }
    report.setStatus(amend ? DiagnosticReport.DiagnosticReportStatus.AMENDED
        : DiagnosticReport.DiagnosticReportStatus.FINAL);
    if (report.getResultsInterpreter().stream().noneMatch(r -> verifier.getReference().equals(r.getReference()))) {
      report.addResultsInterpreter(verifier.copy());
    }
    report.getPresentedForm().forEach(a -> a.setTitle(verifiedWording(a.getTitle())));
    if (has(text)) {
      Attachment attachment = report.getPresentedForm().stream()
          .filter(a -> a.hasData() || (a.hasContentType() && a.getContentType().startsWith("text/")))
          .findFirst()
          .orElseGet(() -> report.addPresentedForm().setContentType(MARKDOWN));
      replace(attachment, text.getValue());
    }
    if (has(conclusion)) {
      report.setConclusion(conclusion.getValue());
    }
  }

  /** Accepted: the wording no longer calls it an unverified draft; that the AI wrote it stays said (and labelled). */
  static String verifiedWording(String text) {
    return text == null ? null : text.replace("AI-generated draft", "AI-generated").replace("AI draft", "AI-generated")
        .replace("not yet verified by a clinician", "verified by a clinician");
  }

  private static void replace(Attachment attachment, String text) {
    byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
    attachment.setData(bytes);
    attachment.setSize(bytes.length);
    attachment.setUrl(null);
    try {
      attachment.setHash(MessageDigest.getInstance("SHA-1").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      attachment.setHash(null);
    }
  }

  private static Provenance provenance(String reference, String reviewedVersion, String decision, StringType note,
      Reference verifier) {
    Provenance provenance = new Provenance();
    Date now = new Date();
    provenance.addTarget(new Reference(reference));
    provenance.setRecorded(now);
    provenance.setOccurred(new org.hl7.fhir.r4.model.DateTimeType(now));
    provenance.setActivity(new CodeableConcept(
            new Coding("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "UPDATE", "revise"))
        .setText("clinician review: " + decision));
    provenance.addAgent()
        .setType(new CodeableConcept(new Coding(PARTICIPANT_TYPE, ReviewGateInterceptor.VERIFIER, "Verifier")))
        .setWho(verifier.copy());
    provenance.addEntity()
        .setRole(Provenance.ProvenanceEntityRole.REVISION)
        .setWhat(new Reference(reference + "/_history/" + reviewedVersion));
    if (has(note)) {
      provenance.addReason().setText(note.getValue());
    }
    return provenance;
  }

  private static boolean has(StringType value) {
    return value != null && value.getValue() != null && !value.getValue().isBlank();
  }
}
