package dev.medgemmafhir.operations.autodraft;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import dev.medgemmafhir.operations.async.JobEnd;
import dev.medgemmafhir.operations.draftreport.DraftReportOperation;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.vocabulary.RequestData;
import dev.medgemmafhir.operations.summarize.SummarizeOperation;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.StringType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

/**
 * Automatic drafting: a storage-pipeline interceptor that notices a resource <em>becoming</em>
 * ready for a draft (an Encounter becoming {@code finished}, an ImagingStudy becoming
 * {@code available}) and, once the write has committed, starts the matching operation as an
 * asynchronous job, the same job an integration engine gets with {@code Prefer: respond-async}:
 * same queue, same idempotency (one draft per set of input versions), same result writer.
 *
 * <p>Only a transition starts a job, so saving a finished encounter again starts nothing. Each
 * rule counts its outcomes in {@code medgemma_auto_draft_total{rule,outcome}}: {@code started},
 * {@code existing} (the draft for these inputs was already written) or {@code failed}. Each job is
 * audited as a client's asynchronous job is (its result or failure; a job that could not start as a
 * failure), with the rule as the requestor.
 */
@Interceptor
public final class AutoDrafting implements AutoCloseable {

  /** A configured rule. */
  public enum Rule {
    /** Encounter becomes finished: {@code $summarize} with style {@code discharge}. */
    ENCOUNTER_FINISHED_DISCHARGE("encounter-finished-discharge"),
    /** ImagingStudy becomes available: {@code $draft-report}. */
    IMAGING_STUDY_AVAILABLE_REPORT("imaging-study-available-report");

    private final String code;

    Rule(String code) {
      this.code = code;
    }

    public String code() {
      return code;
    }

    public static Rule fromCode(String code) {
      return Arrays.stream(values()).filter(r -> r.code.equals(code.strip().toLowerCase(Locale.ROOT))).findFirst()
          .orElseThrow(() -> new IllegalArgumentException("Unknown automatic drafting rule '" + code + "'; known: "
              + Arrays.stream(values()).map(Rule::code).toList()));
    }
  }

  private static final Logger LOG = LoggerFactory.getLogger(AutoDrafting.class);

  private final Set<Rule> rules;
  private final SummarizeOperation summarize;
  private final DraftReportOperation draftReport;
  private final StringType model;
  private final MeterRegistry meters;
  private final JobEnd audit;
  private final ExecutorService starter = Executors.newSingleThreadExecutor(runnable -> {
    Thread thread = new Thread(runnable, "auto-draft");
    thread.setDaemon(true);
    return thread;
  });

  /** @param model the model id the jobs name; empty = each operation's default */
  public AutoDrafting(Set<Rule> rules, SummarizeOperation summarize, DraftReportOperation draftReport, String model,
      MeterRegistry meters) {
    this(rules, summarize, draftReport, model, meters, JobEnd.NONE);
  }

  /** @param audit told of a job that could not be started (an accepted job's end reaches the audit trail through its kick-off) */
  public AutoDrafting(Set<Rule> rules, SummarizeOperation summarize, DraftReportOperation draftReport, String model,
      MeterRegistry meters, JobEnd audit) {
    this.rules = Set.copyOf(rules);
    this.summarize = summarize;
    this.draftReport = draftReport;
    this.model = model == null || model.isBlank() ? null : new StringType(model.strip());
    this.meters = meters;
    this.audit = audit;
    for (Rule rule : rules) {
      for (String outcome : new String[] {"started", "existing", "failed"}) {
        counter(rule, outcome);
      }
    }
  }

  @Hook(Pointcut.STORAGE_PRECOMMIT_RESOURCE_CREATED)
  public void created(IBaseResource resource) {
    consider(null, resource);
  }

  @Hook(Pointcut.STORAGE_PRECOMMIT_RESOURCE_UPDATED)
  public void updated(IBaseResource previous, IBaseResource current) {
    consider(previous, current);
  }

  private void consider(IBaseResource previous, IBaseResource current) {
    Optional<Rule> rule = becomesReady(previous, current);
    if (rule.isEmpty() || !rules.contains(rule.get())) {
      return;
    }
    IdType target = new IdType(current.fhirType(), current.getIdElement().getIdPart());
    Runnable start = () -> starter.execute(() -> start(rule.get(), target));
    if (TransactionSynchronizationManager.isSynchronizationActive()) {
      // The job must read what this transaction wrote, and nothing may start if it rolls back.
      TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
        @Override
        public void afterCommit() {
          start.run();
        }
      });
    } else {
      start.run();
    }
  }

  /** The rule whose trigger this write is: a transition into the triggering status. */
  static Optional<Rule> becomesReady(IBaseResource previous, IBaseResource current) {
    if (current instanceof Encounter encounter && encounter.getStatus() == Encounter.EncounterStatus.FINISHED
        && !(previous instanceof Encounter before && before.getStatus() == Encounter.EncounterStatus.FINISHED)) {
      return Optional.of(Rule.ENCOUNTER_FINISHED_DISCHARGE);
    }
    if (current instanceof ImagingStudy study && study.getStatus() == ImagingStudy.ImagingStudyStatus.AVAILABLE
        && !(previous instanceof ImagingStudy before && before.getStatus() == ImagingStudy.ImagingStudyStatus.AVAILABLE)) {
      return Optional.of(Rule.IMAGING_STUDY_AVAILABLE_REPORT);
    }
    return Optional.empty();
  }

  private void start(Rule rule, IdType target) {
    SystemRequestDetails request = new SystemRequestDetails();
    // A job of the operation on the resource already queued or running (a CDS discharge hook's, a
    // client's) is the draft in the making: no second one.
    request.addHeader("Prefer", "respond-async, " + dev.medgemmafhir.operations.async.AsyncKickoff.UNLESS_RUNNING);
    // As a client's kick-off reads to the audit trail: the operation, its target, and who asked (the rule).
    request.setOperation(switch (rule) {
      case ENCOUNTER_FINISHED_DISCHARGE -> AiVocabulary.SUMMARIZE;
      case IMAGING_STUDY_AVAILABLE_REPORT -> AiVocabulary.DRAFT_REPORT;
    });
    request.setResourceName(target.getResourceType());
    request.setId(target);
    request.setRequestType(ca.uhn.fhir.rest.api.RequestTypeEnum.POST);
    request.getUserData().put(RequestData.AUTO_DRAFT_RULE, rule.code());
    try {
      IBaseResource answer = switch (rule) {
        case ENCOUNTER_FINISHED_DISCHARGE ->
            summarize.summarize(target, new CodeType("discharge"), null, null, model, null, request);
        case IMAGING_STUDY_AVAILABLE_REPORT ->
            draftReport.draftReport(target, null, null, model, null, null, null, null, request);
      };
      // An accepted job answers an OperationOutcome (coded duplicate when one was already live); an
      // earlier identical draft answers itself.
      String outcome = !(answer instanceof OperationOutcome accepted) ? "existing"
          : accepted.getIssueFirstRep().getCode() == OperationOutcome.IssueType.DUPLICATE ? "running" : "started";
      counter(rule, outcome).increment();
      LOG.info("Automatic drafting ({}) for {}: {}", rule.code(), target.getValue(), outcome);
    } catch (BaseServerResponseException e) {
      counter(rule, "failed").increment();
      LOG.warn("Automatic drafting ({}) for {} was not started: HTTP {}", rule.code(), target.getValue(),
          e.getStatusCode());
      ended(request, e.getStatusCode(), e.getMessage());
    } catch (RuntimeException e) {
      counter(rule, "failed").increment();
      LOG.error("Automatic drafting ({}) for {} failed", rule.code(), target.getValue(), e);
      ended(request, 500, "The operation failed: " + e.getMessage());
    }
  }

  /** A job that never started is audited as its end, like a client's refused kick-off. */
  private void ended(SystemRequestDetails request, int status, String message) {
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
        .setCode(OperationOutcome.IssueType.PROCESSING).setDiagnostics(message);
    try {
      audit.ended(request, status, outcome);
    } catch (RuntimeException e) {
      LOG.error("Recording the failed start of automatic drafting failed: {}", e.toString());
    }
  }

  private Counter counter(Rule rule, String outcome) {
    return Counter.builder("medgemma.auto.draft")
        .description("Automatic drafting rule firings, by outcome")
        .tag("rule", rule.code()).tag("outcome", outcome)
        .register(meters);
  }

  @Override
  public void close() {
    starter.shutdownNow();
  }
}
