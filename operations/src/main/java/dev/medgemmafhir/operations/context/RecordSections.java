package dev.medgemmafhir.operations.context;

import static dev.medgemmafhir.operations.context.FactText.concept;
import static dev.medgemmafhir.operations.context.FactText.concepts;
import static dev.medgemmafhir.operations.context.FactText.date;
import static dev.medgemmafhir.operations.context.FactText.instant;
import static dev.medgemmafhir.operations.context.FactText.versioned;
import static dev.medgemmafhir.operations.context.FactText.when;
import static dev.medgemmafhir.operations.context.FactText.code;
import static dev.medgemmafhir.operations.context.FactText.dateOf;
import static dev.medgemmafhir.operations.context.FactText.isAiWritten;
import static dev.medgemmafhir.operations.context.FactText.or;
import static dev.medgemmafhir.operations.context.FactText.prefixed;
import static dev.medgemmafhir.operations.context.FactText.refutedOrInError;

import dev.medgemmafhir.operations.context.ClinicalFact.Section;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.function.Function;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Immunization;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.Type;

/**
 * How each kind of record reads as a fact (one definition, also used by {@link EncounterSections}),
 * and the default sections of a patient's record, as of today: problems, medications, allergies,
 * observations, procedures, immunizations, reports, notes and visits. Records entered in error or
 * refuted are left out; inactive ones (a resolved problem, a stopped medication) stay, with their
 * status first in the line, so the model can tell past from present. What this server's AI wrote
 * is never input: it would echo the model.
 */
public final class RecordSections {

  private RecordSections() {}

  /** A section from its parts. */
  public static <T extends Resource> RecordSection of(Class<T> type, String patientParameter,
      Function<T, Optional<ClinicalFact>> fact) {
    String name = type.getSimpleName();
    return new RecordSection() {
      @Override
      public String resourceType() {
        return name;
      }

      @Override
      public String patientParameter() {
        return patientParameter;
      }

      @Override
      public Optional<ClinicalFact> fact(Resource resource) {
        return type.isInstance(resource) && !isAiWritten(resource) ? fact.apply(type.cast(resource))
            : Optional.empty();
      }

      @Override
      public String toString() {
        return name + " section";
      }
    };
  }

  public static List<RecordSection> defaults() {
    return List.of(
        of(Condition.class, Condition.SP_PATIENT, RecordSections::condition),
        of(MedicationRequest.class, MedicationRequest.SP_PATIENT, RecordSections::medication),
        of(AllergyIntolerance.class, AllergyIntolerance.SP_PATIENT, RecordSections::allergy),
        of(Observation.class, Observation.SP_PATIENT, RecordSections::observation),
        of(Procedure.class, Procedure.SP_PATIENT, RecordSections::procedure),
        of(Immunization.class, Immunization.SP_PATIENT, RecordSections::immunization),
        of(DiagnosticReport.class, DiagnosticReport.SP_PATIENT, RecordSections::report),
        of(DocumentReference.class, DocumentReference.SP_PATIENT, RecordSections::note),
        of(Encounter.class, Encounter.SP_PATIENT, RecordSections::encounter));
  }

  static Optional<ClinicalFact> condition(Condition c) {
    if (refutedOrInError(c.getVerificationStatus())) {
      return Optional.empty();
    }
    String text = "Condition (" + or(concept(c.getClinicalStatus()), "status unknown")
        + prefixed(", ", unconfirmed(c.getVerificationStatus())) + prefixed(", onset ", dateOf(c.getOnset()))
        + prefixed(", abated ", dateOf(c.getAbatement())) + "): " + or(concept(c.getCode()), "unspecified");
    Instant date = when(c.getOnset()) != null ? when(c.getOnset()) : instant(c.getRecordedDate());
    return Optional.of(new ClinicalFact(Section.ACTIVE_PROBLEM, versioned(c), date, text));
  }

  static Optional<ClinicalFact> medication(MedicationRequest m) {
    return medication(m, Section.ACTIVE_MEDICATION);
  }

  /** @param section where the order belongs: the patient's medications, or those of one encounter */
  static Optional<ClinicalFact> medication(MedicationRequest m, Section section) {
    if (m.getStatus() == MedicationRequest.MedicationRequestStatus.ENTEREDINERROR) {
      return Optional.empty();
    }
    String dosage = m.getDosageInstruction().stream().filter(d -> d.hasText()).map(d -> d.getText()).findFirst()
        .orElse(null);
    String text = "Medication ordered (" + code(m.getStatus()) + prefixed(", ", date(m.getAuthoredOn())) + "): "
        + FactText.medication(m.getMedication()) + prefixed("; ", dosage) + prefixed("; reason: ", concepts(m.getReasonCode()));
    return Optional.of(new ClinicalFact(section, versioned(m), instant(m.getAuthoredOn()), text));
  }

  static Optional<ClinicalFact> allergy(AllergyIntolerance a) {
    if (refutedOrInError(a.getVerificationStatus())) {
      return Optional.empty();
    }
    String reactions = String.join(", ", a.getReaction().stream().flatMap(r -> r.getManifestation().stream())
        .map(FactText::concept).filter(s -> s != null).toList());
    String text = "Allergy (" + or(concept(a.getClinicalStatus()), "status unknown")
        + prefixed(", ", unconfirmed(a.getVerificationStatus()))
        + (a.hasCriticality() ? ", criticality " + a.getCriticality().toCode() : "") + "): "
        + or(concept(a.getCode()), "unspecified") + prefixed("; reactions: ", reactions);
    return Optional.of(new ClinicalFact(Section.ALLERGY, versioned(a), instant(a.getRecordedDate()), text));
  }

  static Optional<ClinicalFact> observation(Observation o) {
    if (o.getStatus() == Observation.ObservationStatus.ENTEREDINERROR
        || o.getStatus() == Observation.ObservationStatus.CANCELLED) {
      return Optional.empty();
    }
    StringJoiner values = new StringJoiner("; ");
    String value = FactText.value(o.getValue());
    if (value != null) {
      values.add(value);
    }
    for (Observation.ObservationComponentComponent c : o.getComponent()) {
      String v = FactText.value(c.getValue());
      if (v != null) {
        values.add(or(concept(c.getCode()), "component") + " " + v);
      }
    }
    if (values.length() == 0 && !o.hasInterpretation()) {
      return Optional.empty();
    }
    boolean settled = o.getStatus() == Observation.ObservationStatus.FINAL
        || o.getStatus() == Observation.ObservationStatus.AMENDED || o.getStatus() == Observation.ObservationStatus.CORRECTED;
    String text = "Observation (" + or(concepts(o.getCategory()), "uncategorised") + prefixed(", ", dateOf(o.getEffective()))
        + (settled || o.getStatus() == null ? "" : ", " + code(o.getStatus())) + "): "
        + or(concept(o.getCode()), "unspecified") + " = " + values
        + prefixed("; interpretation: ", concepts(o.getInterpretation()));
    return Optional.of(new ClinicalFact(Section.OBSERVATION, versioned(o), when(o.getEffective()), text));
  }

  static Optional<ClinicalFact> procedure(Procedure p) {
    if (p.getStatus() == Procedure.ProcedureStatus.ENTEREDINERROR) {
      return Optional.empty();
    }
    return Optional.of(new ClinicalFact(Section.PROCEDURE, versioned(p), when(p.getPerformed()),
        "Procedure (" + code(p.getStatus()) + prefixed(", ", dateOf(p.getPerformed())) + "): "
            + or(concept(p.getCode()), "unspecified") + prefixed("; reason: ", concepts(p.getReasonCode()))));
  }

  static Optional<ClinicalFact> immunization(Immunization i) {
    if (i.getStatus() == Immunization.ImmunizationStatus.ENTEREDINERROR) {
      return Optional.empty();
    }
    return Optional.of(new ClinicalFact(Section.IMMUNIZATION, versioned(i), when(i.getOccurrence()),
        "Immunization (" + code(i.getStatus()) + prefixed(", ", dateOf(i.getOccurrence())) + "): "
            + or(concept(i.getVaccineCode()), "unspecified vaccine")));
  }

  static Optional<ClinicalFact> report(DiagnosticReport r) {
    if (r.getStatus() == DiagnosticReport.DiagnosticReportStatus.ENTEREDINERROR
        || r.getStatus() == DiagnosticReport.DiagnosticReportStatus.CANCELLED) {
      return Optional.empty();
    }
    StringBuilder text = new StringBuilder("Report (" + code(r.getStatus()) + prefixed(", ", dateOf(r.getEffective()))
        + "): " + or(concept(r.getCode()), "unspecified"));
    if (r.hasConclusion()) {
      text.append("; conclusion: ").append(FactText.truncate(r.getConclusion(), FactText.MAX_DOCUMENT_CHARS));
    }
    r.getPresentedForm().stream().map(FactText::attachmentText).flatMap(Optional::stream).findFirst()
        .ifPresent(t -> text.append("; text: ").append(t));
    return Optional.of(new ClinicalFact(Section.REPORT, versioned(r), when(r.getEffective()), text.toString()));
  }

  static Optional<ClinicalFact> note(DocumentReference d) {
    if (d.getStatus() == Enumerations.DocumentReferenceStatus.ENTEREDINERROR) {
      return Optional.empty();
    }
    String superseded = d.getStatus() == Enumerations.DocumentReferenceStatus.SUPERSEDED ? "superseded, " : "";
    return d.getContent().stream().map(c -> FactText.attachmentText(c.getAttachment())).flatMap(Optional::stream)
        .findFirst().map(t -> new ClinicalFact(Section.NOTE, versioned(d), instant(d.getDate()),
            "Note (" + superseded + or(concept(d.getType()), "document") + prefixed(", ", date(d.getDate())) + "): " + t));
  }

  static Optional<ClinicalFact> encounter(Encounter e) {
    if (e.getStatus() == Encounter.EncounterStatus.ENTEREDINERROR || e.getStatus() == Encounter.EncounterStatus.CANCELLED) {
      return Optional.empty();
    }
    StringJoiner text = new StringJoiner("; ");
    text.add("Encounter (" + code(e.getStatus()) + prefixed(", ", FactText.period(e.getPeriod())) + "): "
        + or(e.getClass_().hasDisplay() ? e.getClass_().getDisplay() : e.getClass_().getCode(), "class unknown")
        + prefixed(", ", concepts(e.getType())));
    if (e.hasReasonCode()) {
      text.add("reason: " + concepts(e.getReasonCode()));
    }
    return Optional.of(new ClinicalFact(Section.VISIT, versioned(e), instant(e.getPeriod().getStart()), text.toString()));
  }

  /** A verification status other than confirmed (e.g. provisional) is worth saying; confirmed goes without. */
  private static String unconfirmed(CodeableConcept verification) {
    String status = concept(verification);
    return status == null || "confirmed".equalsIgnoreCase(status) ? null : status;
  }
}
