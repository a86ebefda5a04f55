package dev.medgemmafhir.operations.context;

import static dev.medgemmafhir.operations.context.FactText.concept;
import static dev.medgemmafhir.operations.context.FactText.concepts;
import static dev.medgemmafhir.operations.context.FactText.date;
import static dev.medgemmafhir.operations.context.FactText.instant;
import static dev.medgemmafhir.operations.context.FactText.versioned;
import static dev.medgemmafhir.operations.context.FactText.when;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.ReferenceParam;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.context.ClinicalFact.Section;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.MedicationAdministration;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.Type;

/**
 * The default context: the encounter, its patient, what was recorded in the encounter, and what
 * matters across encounters (active problems, allergies, current medications), read through the
 * JPA DAOs.
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

  public JpaEncounterContext(DaoRegistry daos) {
    this.daos = daos;
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

    // Keyed by versionless id: a fact found by two searches is listed once, in the first section.
    Map<String, ClinicalFact> facts = new LinkedHashMap<>();
    add(facts, encounterFact(encounter));
    if (patient != null) {
      add(facts, patientFact(patient, encounter));
    }

    for (Condition c : search(Condition.class, Condition.SP_ENCOUNTER, encounterRef, request)) {
      add(facts, conditionFact(c, Section.ENCOUNTER_DIAGNOSIS));
    }
    for (Procedure p : search(Procedure.class, Procedure.SP_ENCOUNTER, encounterRef, request)) {
      add(facts, new ClinicalFact(Section.PROCEDURE, versioned(p), when(p.getPerformed()),
          "Procedure (" + code(p.getStatus()) + prefixed(", ", dateOf(p.getPerformed())) + "): " + concept(p.getCode())
              + prefixed("; reason: ", concepts(p.getReasonCode()))));
    }
    for (MedicationRequest m : search(MedicationRequest.class, MedicationRequest.SP_ENCOUNTER, encounterRef, request)) {
      add(facts, medicationRequestFact(m));
    }
    for (MedicationAdministration m :
        search(MedicationAdministration.class, MedicationAdministration.SP_CONTEXT, encounterRef, request)) {
      add(facts, new ClinicalFact(Section.MEDICATION, versioned(m), when(m.getEffective()),
          "Medication given (" + code(m.getStatus()) + prefixed(", ", dateOf(m.getEffective())) + "): "
              + medication(m.getMedication()) + prefixed("; dose: ", m.getDosage().hasDose()
                  ? FactText.quantity(m.getDosage().getDose()) : null)));
    }
    for (DiagnosticReport r : search(DiagnosticReport.class, DiagnosticReport.SP_ENCOUNTER, encounterRef, request)) {
      if (!isAiWritten(r)) {
        add(facts, reportFact(r));
      }
    }
    for (DocumentReference d : search(DocumentReference.class, DocumentReference.SP_ENCOUNTER, encounterRef, request)) {
      if (!isAiWritten(d)) {
        noteFact(d).ifPresent(f -> add(facts, f));
      }
    }
    for (Observation o : search(Observation.class, Observation.SP_ENCOUNTER, encounterRef, request)) {
      observationFact(o).ifPresent(f -> add(facts, f));
    }

    if (patient != null) {
      String patientRef = "Patient/" + patient.getIdElement().getIdPart();
      for (AllergyIntolerance a : search(AllergyIntolerance.class, AllergyIntolerance.SP_PATIENT, patientRef, request)) {
        add(facts, allergyFact(a));
      }
      SearchParameterMap active = SearchParameterMap.newSynchronous()
          .add(Condition.SP_PATIENT, new ReferenceParam(patientRef))
          .add(Condition.SP_CLINICAL_STATUS, new TokenParam("active"));
      for (Condition c : run(Condition.class, active, request)) {
        add(facts, conditionFact(c, Section.ACTIVE_PROBLEM));
      }
      SearchParameterMap currentMeds = SearchParameterMap.newSynchronous()
          .add(MedicationRequest.SP_PATIENT, new ReferenceParam(patientRef))
          .add(MedicationRequest.SP_STATUS, new TokenParam("active"));
      for (MedicationRequest m : run(MedicationRequest.class, currentMeds, request)) {
        add(facts, medicationRequestFact(m));
      }
    }
    return new EncounterContext(encounter, patient, new ArrayList<>(facts.values()));
  }

  /** Drafts this server wrote are not clinical input: summarising them would echo the model. */
  static boolean isAiWritten(Resource resource) {
    return resource.getMeta().getSecurity().stream()
        .anyMatch(c -> AiTransparency.OBSERVATION_VALUE.equals(c.getSystem()) && AiTransparency.AIAST.equals(c.getCode()));
  }

  private static void add(Map<String, ClinicalFact> facts, ClinicalFact fact) {
    String versionless = fact.reference().replaceFirst("/_history/.*$", "");
    facts.putIfAbsent(versionless, fact);
  }

  private <T extends IBaseResource> List<T> search(Class<T> type, String param, String reference, RequestDetails request) {
    return run(type, SearchParameterMap.newSynchronous().add(param, new ReferenceParam(reference)), request);
  }

  @SuppressWarnings("unchecked")
  private <T extends IBaseResource> List<T> run(Class<T> type, SearchParameterMap map, RequestDetails request) {
    map.setLoadSynchronousUpTo(MAX_PER_SEARCH);
    // getResources works whether HAPI ran the search synchronously or paged it.
    return (List<T>) (List<?>) daos.getResourceDao(type).search(map, request).getResources(0, MAX_PER_SEARCH);
  }

  private static ClinicalFact encounterFact(Encounter e) {
    StringJoiner text = new StringJoiner("; ");
    text.add("Encounter: " + nonNull(e.getClass_().hasDisplay() ? e.getClass_().getDisplay() : e.getClass_().getCode(), "class unknown")
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

  /** Age and sex only: the summary needs no name, address or identifiers. */
  private static ClinicalFact patientFact(Patient p, Encounter e) {
    int age = FactText.ageInYears(p.getBirthDate(), e.getPeriod().getStart());
    String text = "Patient: " + (p.hasGender() ? p.getGender().toCode() : "sex unknown")
        + (age >= 0 ? ", " + age + " years old at the encounter" : "")
        + (p.hasDeceased() && p.getDeceased() instanceof org.hl7.fhir.r4.model.DateTimeType d
            ? ", deceased " + date(d.getValue()) : "");
    return new ClinicalFact(Section.PATIENT, versioned(p), null, text);
  }

  private static ClinicalFact conditionFact(Condition c, Section section) {
    String status = concept(c.getClinicalStatus());
    String text = "Condition (" + nonNull(status, "status unknown") + prefixed(", onset ", dateOf(c.getOnset()))
        + prefixed(", abated ", dateOf(c.getAbatement())) + "): " + nonNull(concept(c.getCode()), "unspecified");
    return new ClinicalFact(section, versioned(c), when(c.getOnset()), text);
  }

  private static ClinicalFact medicationRequestFact(MedicationRequest m) {
    String dosage = m.getDosageInstruction().stream().filter(d -> d.hasText()).map(d -> d.getText()).findFirst().orElse(null);
    String text = "Medication ordered (" + code(m.getStatus()) + prefixed(", ", date(m.getAuthoredOn())) + "): "
        + medication(m.getMedication()) + prefixed("; ", dosage) + prefixed("; reason: ", concepts(m.getReasonCode()));
    return new ClinicalFact(Section.MEDICATION, versioned(m), instant(m.getAuthoredOn()), text);
  }

  private static ClinicalFact allergyFact(AllergyIntolerance a) {
    String reactions = String.join(", ", a.getReaction().stream()
        .flatMap(r -> r.getManifestation().stream()).map(FactText::concept).filter(s -> s != null).toList());
    String text = "Allergy (" + nonNull(concept(a.getClinicalStatus()), "status unknown")
        + (a.hasCriticality() ? ", criticality " + a.getCriticality().toCode() : "") + "): "
        + nonNull(concept(a.getCode()), "unspecified") + prefixed("; reactions: ", reactions);
    return new ClinicalFact(Section.ALLERGY, versioned(a), instant(a.getRecordedDate()), text);
  }

  private static ClinicalFact reportFact(DiagnosticReport r) {
    StringBuilder text = new StringBuilder("Report (" + code(r.getStatus()) + prefixed(", ", dateOf(r.getEffective()))
        + "): " + nonNull(concept(r.getCode()), "unspecified"));
    if (r.hasConclusion()) {
      text.append("; conclusion: ").append(FactText.truncate(r.getConclusion(), FactText.MAX_DOCUMENT_CHARS));
    }
    r.getPresentedForm().stream().map(FactText::attachmentText).flatMap(java.util.Optional::stream)
        .findFirst().ifPresent(t -> text.append("; text: ").append(t));
    return new ClinicalFact(Section.REPORT, versioned(r), when(r.getEffective()), text.toString());
  }

  private static java.util.Optional<ClinicalFact> noteFact(DocumentReference d) {
    return d.getContent().stream().map(c -> FactText.attachmentText(c.getAttachment()))
        .flatMap(java.util.Optional::stream).findFirst()
        .map(t -> new ClinicalFact(Section.NOTE, versioned(d), instant(d.getDate()),
            "Note (" + nonNull(concept(d.getType()), "document") + prefixed(", ", date(d.getDate())) + "): " + t));
  }

  private static java.util.Optional<ClinicalFact> observationFact(Observation o) {
    StringJoiner values = new StringJoiner("; ");
    String value = FactText.value(o.getValue());
    if (value != null) {
      values.add(value);
    }
    for (Observation.ObservationComponentComponent c : o.getComponent()) {
      String v = FactText.value(c.getValue());
      if (v != null) {
        values.add(nonNull(concept(c.getCode()), "component") + " " + v);
      }
    }
    if (values.length() == 0 && !o.hasInterpretation()) {
      return java.util.Optional.empty();
    }
    String text = "Observation (" + nonNull(concepts(o.getCategory()), "uncategorised") + prefixed(", ", dateOf(o.getEffective()))
        + "): " + nonNull(concept(o.getCode()), "unspecified") + " = " + values
        + prefixed("; interpretation: ", concepts(o.getInterpretation()));
    return java.util.Optional.of(new ClinicalFact(Section.OBSERVATION, versioned(o), when(o.getEffective()), text));
  }

  private static String medication(Type medication) {
    if (medication instanceof org.hl7.fhir.r4.model.CodeableConcept c) {
      return nonNull(concept(c), "unspecified medication");
    }
    if (medication instanceof Reference r) {
      return nonNull(r.getDisplay(), "medication " + r.getReference());
    }
    return "unspecified medication";
  }

  private static String dateOf(Type value) {
    if (value instanceof org.hl7.fhir.r4.model.DateTimeType dt) {
      return date(dt.getValue());
    }
    if (value instanceof org.hl7.fhir.r4.model.Period p) {
      return FactText.period(p);
    }
    return null;
  }

  private static String code(Enum<?> status) {
    if (status == null) {
      return "status unknown";
    }
    try {
      return (String) status.getClass().getMethod("toCode").invoke(status);
    } catch (ReflectiveOperationException e) {
      return status.name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private static String prefixed(String prefix, String value) {
    return value == null || value.isBlank() ? "" : prefix + value;
  }

  private static String nonNull(String value, String fallback) {
    return value == null || value.isBlank() ? fallback : value;
  }
}
