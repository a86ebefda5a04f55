package dev.medgemmafhir.interceptors.audit;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.vocabulary.RequestData;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.IBundleProvider;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.ResponseDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.ReferenceParam;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import dev.medgemmafhir.interceptors.smart.SmartPrincipal;
import java.util.Date;
import java.util.Optional;
import java.util.Set;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.AuditEvent.AuditEventAction;
import org.hl7.fhir.r4.model.AuditEvent.AuditEventAgentComponent;
import org.hl7.fhir.r4.model.AuditEvent.AuditEventOutcome;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Records an AuditEvent for every call of the AI operations ({@code $summarize},
 * {@code $draft-report}) and of {@code $verify}: who (token subject / fhirUser, or the verifying
 * practitioner), which resource (the operation's target and the resource it returned), which
 * model (see {@link dev.medgemmafhir.vocabulary.RequestData#MODEL}), the outcome (HTTP status) and the duration (period and
 * a {@code duration-ms} detail). Jobs that automatic drafting started name its rule as the requestor
 * (see {@link RequestData#AUTO_DRAFT_RULE}). Refused calls (401, 403) are recorded too; those without a valid
 * token only within an {@link UnauthenticatedAuditBudget}. A failure to write the AuditEvent is
 * logged and does not fail the request.
 */
@Interceptor
public class AuditEventInterceptor {

  public static final Set<String> AUDITED_OPERATIONS = Set.of(AiVocabulary.SUMMARIZE, AiVocabulary.DRAFT_REPORT, AiVocabulary.ASK,
      AiVocabulary.VERIFY);
  public static final String OPERATION_SYSTEM = "https://medgemma-fhir.dev/fhir/CodeSystem/operation";

  /** Runs before authentication (order -100), so refused calls are timed and recorded too. */
  public static final int ORDER = -200;

  private static final Logger LOG = LoggerFactory.getLogger(AuditEventInterceptor.class);
  private static final String STARTED = "medgemma.audit.started";
  private static final String RECORDED = "medgemma.audit.recorded";

  /** Entity detail on an unauthenticated call's AuditEvent: earlier such calls that got none. */
  public static final String UNRECORDED = "unrecorded-unauthenticated-calls";

  private final DaoRegistry daos;
  private final UnauthenticatedAuditBudget unauthenticated;

  public AuditEventInterceptor(DaoRegistry daos, UnauthenticatedAuditBudget unauthenticated) {
    this.daos = daos;
    this.unauthenticated = unauthenticated;
  }

  @Hook(value = Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED, order = ORDER)
  public boolean start(RequestDetails request) {
    if (audited(request)) {
      request.getUserData().put(STARTED, new Date());
    }
    return true;
  }

  @Hook(Pointcut.SERVER_OUTGOING_RESPONSE)
  public boolean succeeded(RequestDetails request, ResponseDetails response) {
    if (audited(request)) {
      record(request, response.getResponseCode(), response.getResponseResource());
    }
    return true;
  }

  @Hook(Pointcut.SERVER_HANDLE_EXCEPTION)
  public boolean failed(RequestDetails request, BaseServerResponseException exception) {
    if (audited(request)) {
      record(request, exception.getStatusCode(), null);
    }
    return true;
  }

  /**
   * Records how an asynchronous job ended (the kick-off's 202 is recorded like any call): its result
   * or failure, with the kick-off's requestor and model, the period running from the kick-off to the end.
   *
   * @param kickoff a copy of the kick-off request (operation, target and user data)
   */
  public void recordJobEnd(RequestDetails kickoff, int status, IBaseResource result) {
    kickoff.getUserData().remove(RECORDED);
    if (audited(kickoff)) {
      record(kickoff, status, result);
    }
  }

  static boolean audited(RequestDetails request) {
    if (request == null || request.getOperation() == null) {
      return false;
    }
    String operation = normalise(request.getOperation());
    // [base]/$ask has no target resource and is audited all the same.
    return AUDITED_OPERATIONS.contains(operation) && (request.getId() != null || AiVocabulary.ASK.equals(operation));
  }

  private void record(RequestDetails request, int status, IBaseResource result) {
    if (request.getUserData().put(RECORDED, Boolean.TRUE) != null) {
      return;
    }
    String operation = normalise(request.getOperation());
    String target = request.getId() == null ? null : request.getResourceName() + "/" + request.getId().getIdPart();
    long unrecorded = 0;
    if (status == 401 && SmartPrincipal.of(request).isEmpty()) {
      unrecorded = unauthenticated.take();
      if (unrecorded < 0) {
        LOG.debug("Audit: {} on {} -> HTTP 401 over the unauthenticated budget, counted only", operation, target);
        return;
      }
    }
    try {
      AuditEvent event = build(request, operation, target, status, result);
      if (unrecorded > 0) {
        event.getEntityFirstRep().addDetail().setType(UNRECORDED).setValue(new StringType(Long.toString(unrecorded)));
        LOG.warn("Audit: {} calls without a valid token were over medgemma.audit.unauthenticated-per-minute "
            + "and got no AuditEvent of their own; the next one records their number", unrecorded);
      }
      try {
        daos.getResourceDao(AuditEvent.class).create(event, new SystemRequestDetails());
      } catch (InvalidRequestException unresolvable) {
        // A reference this server cannot resolve (an unknown target id, a fhirUser on another
        // server): keep the record, with those references as text.
        daos.getResourceDao(AuditEvent.class).create(unresolved(event), new SystemRequestDetails());
      }
      LOG.info("Audit: {} on {} -> HTTP {}", operation, target, status);
    } catch (RuntimeException e) {
      LOG.error("Could not record the AuditEvent for {} on {} (HTTP {}): {}", operation, target, status, e.toString());
    }
  }

  private static AuditEvent unresolved(AuditEvent event) {
    AuditEvent copy = event.copy();
    copy.getAgent().forEach(a -> textOnly(a.getWho()));
    copy.getEntity().forEach(e -> textOnly(e.getWhat()));
    return copy;
  }

  private static void textOnly(Reference reference) {
    if (reference.hasReference()) {
      reference.setDisplay(reference.getReference()).setReference(null);
    }
  }

  AuditEvent build(RequestDetails request, String operation, String target, int status, IBaseResource result) {
    Date end = new Date();
    Date start = (Date) request.getUserData().getOrDefault(STARTED, end);
    AuditEvent event = new AuditEvent();
    event.setType(new Coding("http://terminology.hl7.org/CodeSystem/audit-event-type", "rest", "RESTful Operation"));
    event.addSubtype(new Coding("http://hl7.org/fhir/restful-interaction", "operation", "operation"));
    event.addSubtype(new Coding(OPERATION_SYSTEM, operation.substring(1), operation));
    event.setAction(AuditEventAction.E);
    event.setPeriod(new Period().setStart(start).setEnd(end));
    event.setRecorded(end);
    event.setOutcome(status < 400 ? AuditEventOutcome._0 : status < 500 ? AuditEventOutcome._4 : AuditEventOutcome._8);
    event.setOutcomeDesc("HTTP " + status);
    event.getSource().setSite("medgemma-fhir").setObserver(new Reference().setDisplay("medgemma-fhir"))
        .addType(new Coding("http://terminology.hl7.org/CodeSystem/security-source-type", "4", "Application Server"));

    event.addAgent(requestor(request));
    model(request, result).ifPresent(device -> event.addAgent()
        .setRequestor(false)
        .setType(new CodeableConcept(new Coding("http://dicom.nema.org/resources/ontology/DCM", "110150", "Application")))
        .setWho(device));

    event.addEntity()
        .setWhat(target == null ? new Reference().setDisplay("[base]/" + operation) : new Reference(target))
        .setType(new Coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"))
        .setRole(new Coding("http://terminology.hl7.org/CodeSystem/object-role", "4", "Domain Resource"))
        .addDetail().setType("duration-ms").setValue(new StringType(
            Long.toString(end.getTime() - start.getTime())));
    written(result).ifPresent(written -> event.addEntity()
        .setWhat(new Reference(written))
        .setType(new Coding("http://terminology.hl7.org/CodeSystem/audit-entity-type", "2", "System Object"))
        .setRole(new Coding("http://terminology.hl7.org/CodeSystem/object-role", "3", "Report")));
    Object decision = request.getUserData().get(RequestData.DECISION);
    if (decision != null) {
      event.getEntityFirstRep().addDetail().setType("decision")
          .setValue(new StringType(decision.toString()));
    }
    return event;
  }

  /**
   * The versioned reference of what the call wrote: the stored resource it returned, or, for an
   * answer that is not stored itself ({@code $ask}'s Parameters), the DocumentReference it was kept as.
   */
  static Optional<String> written(IBaseResource result) {
    if (result == null || "OperationOutcome".equals(result.fhirType())) {
      return Optional.empty();
    }
    if (result.getIdElement().hasIdPart()) {
      String version = result.getIdElement().getVersionIdPart();
      return Optional.of(result.fhirType() + "/" + result.getIdElement().getIdPart()
          + (version == null ? "" : "/_history/" + version));
    }
    if (result instanceof Parameters parameters
        && parameters.getParameter(AiVocabulary.ASK_DOCUMENT_PARAMETER) != null
        && parameters.getParameter(AiVocabulary.ASK_DOCUMENT_PARAMETER).getValue() instanceof Reference kept
        && kept.hasReference()) {
      return Optional.of(kept.getReference());
    }
    return Optional.empty();
  }

  private static AuditEventAgentComponent requestor(RequestDetails request) {
    AuditEventAgentComponent agent = new AuditEventAgentComponent().setRequestor(true);
    if (request.getUserData().get(RequestData.AUTO_DRAFT_RULE) instanceof String rule) {
      // Started by the server itself: the requestor is the configured rule, not a user.
      return agent.setType(new CodeableConcept(new Coding("http://dicom.nema.org/resources/ontology/DCM", "110150",
              "Application")))
          .setWho(new Reference().setIdentifier(new Identifier().setSystem(AiVocabulary.AUTO_DRAFT_RULE_SYSTEM)
              .setValue(rule)).setDisplay("automatic drafting rule " + rule))
          .setName("medgemma-fhir automatic drafting");
    }
    agent.setType(new CodeableConcept(
        new Coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "humanuser", "human user")));
    Object verifier = request.getUserData().get(RequestData.VERIFIER);
    Optional<SmartPrincipal> principal = SmartPrincipal.of(request);
    if (verifier instanceof Reference practitioner) {
      agent.setWho(practitioner.copy());
    } else if (principal.isPresent() && principal.get().fhirUser() != null) {
      agent.setWho(new Reference(principal.get().fhirUser()));
    }
    if (principal.isPresent()) {
      SmartPrincipal p = principal.get();
      if (!agent.hasWho()) {
        agent.setType(new CodeableConcept(
            new Coding("http://terminology.hl7.org/CodeSystem/extra-security-role-type", "dataprocessor", "data processor")));
        agent.setWho(new Reference().setIdentifier(new Identifier().setSystem("urn:medgemma-fhir:token-subject").setValue(p.subject())));
      }
      agent.setAltId(p.subject());
      if (p.clientId() != null) {
        agent.setName("client " + p.clientId());
      }
    } else if (!agent.hasWho()) {
      agent.setWho(new Reference().setDisplay("anonymous (no access token)"));
    }
    if (request instanceof ServletRequestDetails servlet && servlet.getServletRequest() != null) {
      agent.getNetwork().setAddress(servlet.getServletRequest().getRemoteAddr())
          .setType(AuditEvent.AuditEventAgentNetworkType._2);
    }
    return agent;
  }

  private Optional<Reference> model(RequestDetails request, IBaseResource result) {
    Object model = request.getUserData().get(RequestData.MODEL);
    if (model instanceof Reference reference) {
      return Optional.of(reference.copy());
    }
    if (model instanceof String id && id.startsWith("Device/")) {
      return Optional.of(new Reference(id));
    }
    Optional<Reference> device = result == null ? Optional.empty() : modelOf(result);
    if (!(model instanceof String id) || id.isBlank()) {
      return device;
    }
    // A model id: name it, and point at its Device (by id when known, else by identifier).
    Reference reference = device.orElseGet(Reference::new).setDisplay(id);
    Object identifier = request.getUserData().get(RequestData.MODEL_DEVICE);
    if (identifier instanceof String systemAndValue && systemAndValue.contains("|")) {
      int bar = systemAndValue.indexOf('|');
      reference.setIdentifier(new Identifier()
          .setSystem(systemAndValue.substring(0, bar)).setValue(systemAndValue.substring(bar + 1)));
    }
    return Optional.of(reference);
  }

  /** The AI Device that wrote a resource: its Device author, else the author agent of its Provenance. */
  public Optional<Reference> modelOf(IBaseResource resource) {
    if (resource instanceof DocumentReference document) {
      for (Reference author : document.getAuthor()) {
        if (author.getReference() != null && author.getReference().startsWith("Device/")) {
          return Optional.of(new Reference(author.getReference()).setDisplay(author.getDisplay()));
        }
      }
    }
    if (!resource.getIdElement().hasIdPart()
        || !Set.of("DocumentReference", "DiagnosticReport").contains(resource.fhirType())) {
      return Optional.empty();
    }
    try {
      SearchParameterMap byTarget = SearchParameterMap.newSynchronous(
          "target", new ReferenceParam(resource.fhirType() + "/" + resource.getIdElement().getIdPart()));
      IBundleProvider found = daos.getResourceDao(Provenance.class).search(byTarget, new SystemRequestDetails());
      for (IBaseResource r : found.getAllResources()) {
        for (Provenance.ProvenanceAgentComponent agent : ((Provenance) r).getAgent()) {
          String who = agent.getWho().getReference();
          if (who != null && who.startsWith("Device/")) {
            return Optional.of(new Reference(who).setDisplay(agent.getWho().getDisplay()));
          }
        }
      }
    } catch (RuntimeException e) {
      LOG.warn("Could not look up the model of {}: {}", resource.fhirType(), e.toString());
    }
    return Optional.empty();
  }

  private static String normalise(String operation) {
    return operation.startsWith("$") ? operation : "$" + operation;
  }
}
