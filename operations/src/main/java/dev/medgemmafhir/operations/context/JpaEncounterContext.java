package dev.medgemmafhir.operations.context;

import static dev.medgemmafhir.operations.context.FactText.concept;
import static dev.medgemmafhir.operations.context.FactText.concepts;
import static dev.medgemmafhir.operations.context.FactText.date;
import static dev.medgemmafhir.operations.context.FactText.instant;
import static dev.medgemmafhir.operations.context.FactText.versioned;
import static dev.medgemmafhir.operations.context.FactText.when;
import static dev.medgemmafhir.operations.context.FactText.code;
import static dev.medgemmafhir.operations.context.FactText.dateOf;
import static dev.medgemmafhir.operations.context.FactText.or;
import static dev.medgemmafhir.operations.context.FactText.prefixed;
import static dev.medgemmafhir.operations.context.FactText.refutedOrInError;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.ReferenceParam;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import dev.medgemmafhir.operations.context.ClinicalFact.Section;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Resource;

/**
 * The default context: the encounter, its patient, what was recorded in the encounter, and what
 * matters across encounters (allergies, problems and medications active at the time), read
 * through the JPA DAOs, section by section ({@link EncounterSection}; the defaults are
 * {@link EncounterSections#defaults()}).
 *
 * <p>Facts are chosen as of the encounter, not as of today: nothing dated after the encounter's
 * end is used (a later diagnosis, the patient's death, a problem's later resolution), and a
 * background problem or medication counts only when it was active during the encounter (begun
 * and recorded by its end, not ended before its start).
 *
 * <p>The encounter and its patient are read with the caller's request, so the server's access
 * rules decide whether the caller may summarise this encounter at all (a {@code patient/} token
 * only reaches its own patient). The facts are then searched as the system: the operation's
 * documented scope policy ({@code Encounter.r} + {@code DocumentReference.c}) is what grants
 * reading an encounter's clinical context, and a search made with the caller's REST request
 * would be cut to the server's page size (20) instead of returning every fact.
 */
public final class JpaEncounterContext implements EncounterContextStrategy {

  /** Upper bound per search: a pathological encounter must not exhaust memory. */
  static final int MAX_PER_SEARCH = 5000;

  private final DaoRegistry daos;
  private final List<EncounterSection> sections;

  /** With the default sections ({@link EncounterSections#defaults()}). */
  public JpaEncounterContext(DaoRegistry daos) {
    this(daos, EncounterSections.defaults());
  }

  /** @param sections what the encounter's context is read from, in priority order for duplicates (first wins) */
  public JpaEncounterContext(DaoRegistry daos, List<EncounterSection> sections) {
    this.daos = daos;
    this.sections = List.copyOf(sections);
  }

  @Override
  public EncounterContext gather(IdType encounterId, RequestDetails caller) {
    Encounter encounter = daos.getResourceDao(Encounter.class).read(encounterId.toUnqualifiedVersionless(), caller);
    String encounterRef = "Encounter/" + encounter.getIdElement().getIdPart();
    Patient patient = null;
    if ("Patient".equals(encounter.getSubject().getReferenceElement().getResourceType())) {
      patient = daos.getResourceDao(Patient.class)
          .read(encounter.getSubject().getReferenceElement().toUnqualifiedVersionless(), caller);
    } else if (encounter.hasSubject()) {
      throw new InvalidRequestException("Encounter " + encounterRef + " has a subject that is not a Patient");
    }
    RequestDetails request = new SystemRequestDetails();
    Span span = Span.of(encounter);

    // Keyed by versionless id: a fact found by two searches is listed once, in the first section.
    // Every fact passes the encounter's time span: add() drops what is dated after its end.
    Facts facts = new Facts(span);
    facts.add(encounterFact(encounter));
    if (patient != null) {
      facts.add(patientFact(patient, encounter, span));
    }

    String patientRef = patient == null ? null : "Patient/" + patient.getIdElement().getIdPart();
    for (EncounterSection section : sections) {
      String reference = section.link() == EncounterSection.Link.ENCOUNTER ? encounterRef : patientRef;
      if (reference == null) {
        continue;
      }
      for (IBaseResource found : search(section.resourceType(), section.searchParameter(), reference, request)) {
        section.fact((Resource) found, span).ifPresent(facts::add);
      }
    }
    return new EncounterContext(encounter, patient, facts.list());
  }

  /** The facts gathered so far, each resource once, none dated after the encounter. */
  private static final class Facts {
    private final Span span;
    private final Map<String, ClinicalFact> byResource = new LinkedHashMap<>();

    Facts(Span span) {
      this.span = span;
    }

    void add(ClinicalFact fact) {
      if (span.after(fact.date())) {
        return;
      }
      byResource.putIfAbsent(fact.reference().replaceFirst("/_history/.*$", ""), fact);
    }

    List<ClinicalFact> list() {
      return new ArrayList<>(byResource.values());
    }
  }

  /**
   * When the encounter took place. Without an end, an encounter that is over is taken to have
   * lasted a day from its start; one still in progress has no end yet.
   */
  public record Span(Instant start, Instant end) {

    public static Span of(Encounter e) {
      Instant start = FactText.instant(e.getPeriod().getStart());
      Instant end = upperBound(e.getPeriod().getEndElement());
      if (end == null && start != null && !inProgress(e.getStatus())) {
        end = start.plus(Duration.ofDays(1));
      }
      return new Span(start, end);
    }

    /** Dated after the encounter ended: not known at the encounter. */
    public boolean after(Instant date) {
      return date != null && end != null && date.isAfter(end);
    }

    /** Ended before the encounter began. */
    public boolean endedBefore(Instant date) {
      return date != null && start != null && date.isBefore(start);
    }

    private static boolean inProgress(Encounter.EncounterStatus status) {
      return status == Encounter.EncounterStatus.INPROGRESS || status == Encounter.EncounterStatus.ARRIVED
          || status == Encounter.EncounterStatus.TRIAGED || status == Encounter.EncounterStatus.ONLEAVE
          || status == Encounter.EncounterStatus.PLANNED;
    }

    /** The last instant a dateTime covers: "2010-05-03" ends at the end of that day. */
    private static Instant upperBound(org.hl7.fhir.r4.model.DateTimeType dateTime) {
      if (dateTime == null || dateTime.getValue() == null) {
        return null;
      }
      java.util.Calendar calendar = java.util.Calendar.getInstance(dateTime.getTimeZone());
      calendar.setTime(dateTime.getValue());
      calendar.add(dateTime.getPrecision().getCalendarConstant(), 1);
      return calendar.toInstant().minusMillis(1);
    }
  }

  /** A problem counts as background when it had begun and was recorded by the encounter's end and had not ended before it. */
  static boolean activeDuring(Condition c, Span span) {
    if (refutedOrInError(c.getVerificationStatus())) {
      return false;
    }
    Instant onset = FactText.when(c.getOnset());
    Instant recorded = FactText.instant(c.getRecordedDate());
    if (span.after(onset) || span.after(recorded)) {
      return false;
    }
    if (c.hasAbatement()) {
      Instant abated = abatement(c);
      // Abated at an unknown time (an age or a text): it cannot be shown to have lasted until the encounter.
      return abated != null && !span.endedBefore(abated);
    }
    // No end recorded: only a problem still active today is known to have lasted through the encounter.
    return onset != null || recorded != null ? activeNow(c) : activeNow(c) && span.end() == null;
  }

  /** An allergy counts when it was recorded (or began) by the encounter's end. */
  static boolean knownDuring(AllergyIntolerance a, Span span) {
    return !refutedOrInError(a.getVerificationStatus()) && !span.after(FactText.instant(a.getRecordedDate()))
        && !span.after(FactText.when(a.getOnset()));
  }

  /**
   * A medication counts when it was ordered by the encounter's end and is still active, or its
   * validity period reaches into the encounter. A stopped or completed order without dates cannot
   * be shown to have lasted until the encounter and is left out.
   */
  static boolean activeDuring(MedicationRequest m, Span span) {
    if (span.after(FactText.instant(m.getAuthoredOn())) || m.getStatus() == MedicationRequest.MedicationRequestStatus.ENTEREDINERROR) {
      return false;
    }
    if (m.getDispenseRequest().hasValidityPeriod()) {
      org.hl7.fhir.r4.model.Period valid = m.getDispenseRequest().getValidityPeriod();
      return !span.after(FactText.instant(valid.getStart())) && !span.endedBefore(FactText.instant(valid.getEnd()));
    }
    boolean current = m.getStatus() == MedicationRequest.MedicationRequestStatus.ACTIVE
        || m.getStatus() == MedicationRequest.MedicationRequestStatus.ONHOLD;
    return current && (m.hasAuthoredOn() || span.end() == null);
  }

  static Instant abatement(Condition c) {
    if (c.getAbatement() instanceof org.hl7.fhir.r4.model.DateTimeType dt) {
      return FactText.instant(dt.getValue());
    }
    if (c.getAbatement() instanceof org.hl7.fhir.r4.model.Period p) {
      return FactText.instant(p.hasEnd() ? p.getEnd() : p.getStart());
    }
    return null;
  }

  static boolean activeNow(Condition c) {
    return c.getClinicalStatus().getCoding().stream().anyMatch(code -> List.of("active", "recurrence", "relapse")
        .contains(code.getCode()));
  }

  private List<IBaseResource> search(String type, String param, String reference, RequestDetails request) {
    SearchParameterMap map = SearchParameterMap.newSynchronous().add(param, new ReferenceParam(reference));
    map.setLoadSynchronousUpTo(MAX_PER_SEARCH);
    // getResources works whether HAPI ran the search synchronously or paged it.
    return daos.getResourceDao(type).search(map, request).getResources(0, MAX_PER_SEARCH);
  }

  static ClinicalFact encounterFact(Encounter e) {
    StringJoiner text = new StringJoiner("; ");
    text.add("Encounter: " + or(e.getClass_().hasDisplay() ? e.getClass_().getDisplay() : e.getClass_().getCode(), "class unknown")
        + prefixed(", ", concepts(e.getType())));
    text.add("status " + code(e.getStatus()));
    if (e.hasPeriod()) {
      text.add("period " + FactText.period(e.getPeriod()));
    }
    if (e.hasReasonCode()) {
      text.add("reason: " + concepts(e.getReasonCode()));
    }
    if (e.getHospitalization().hasDischargeDisposition()) {
      text.add("discharge disposition: " + concept(e.getHospitalization().getDischargeDisposition()));
    }
    if (e.hasServiceProvider() && e.getServiceProvider().hasDisplay()) {
      text.add("at " + e.getServiceProvider().getDisplay());
    }
    return new ClinicalFact(Section.ENCOUNTER, versioned(e), instant(e.getPeriod().getStart()), text.toString());
  }

  /** Age and sex only: the summary needs no name, address or identifiers; a death only if it came by the encounter's end. */
  static ClinicalFact patientFact(Patient p, Encounter e, Span span) {
    int age = FactText.ageInYears(p.getBirthDate(), e.getPeriod().getStart());
    String text = "Patient: " + (p.hasGender() ? p.getGender().toCode() : "sex unknown")
        + (age >= 0 ? ", " + age + " years old at the encounter" : "")
        + (p.hasDeceased() && p.getDeceased() instanceof org.hl7.fhir.r4.model.DateTimeType d
            && d.getValue() != null && !span.after(d.getValue().toInstant()) ? ", deceased " + date(d.getValue()) : "");
    return new ClinicalFact(Section.PATIENT, versioned(p), null, text);
  }

  /** As of the encounter: a resolution that came after it is not shown (the problem was active then). */
  static ClinicalFact conditionFact(Condition c, Section section, Span span) {
    Instant abated = abatement(c);
    boolean resolvedLater = abated != null && span.after(abated);
    String status = resolvedLater ? "active at the encounter" : concept(c.getClinicalStatus());
    String text = "Condition (" + or(status, "status unknown") + prefixed(", onset ", dateOf(c.getOnset()))
        + (resolvedLater ? "" : prefixed(", abated ", dateOf(c.getAbatement()))) + "): "
        + or(concept(c.getCode()), "unspecified");
    return new ClinicalFact(section, versioned(c), when(c.getOnset()), text);
  }
}
