package dev.medgemmafhir.operations.context;

import static dev.medgemmafhir.operations.context.FactText.versioned;
import static dev.medgemmafhir.operations.context.FactText.when;

import dev.medgemmafhir.operations.context.ClinicalFact.Section;
import dev.medgemmafhir.operations.context.EncounterSection.Link;
import java.util.List;
import java.util.Optional;
import java.util.function.BiFunction;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.MedicationAdministration;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Resource;

/**
 * The default sections of an encounter's context, in the order a fact found twice is kept by the
 * first: what was recorded in the encounter (diagnoses, procedures, medications ordered and given,
 * reports, notes, observations), then the patient's background as of the encounter (allergies,
 * problems and medications active then). Records entered in error, refuted or cancelled are left out.
 */
public final class EncounterSections {

  private EncounterSections() {}

  /** A section from its parts. */
  public static <T extends Resource> EncounterSection of(Class<T> type, Link link, String searchParameter,
      BiFunction<T, JpaEncounterContext.Span, Optional<ClinicalFact>> fact) {
    String name = type.getSimpleName();
    return new EncounterSection() {
      @Override
      public String resourceType() {
        return name;
      }

      @Override
      public Link link() {
        return link;
      }

      @Override
      public String searchParameter() {
        return searchParameter;
      }

      @Override
      public Optional<ClinicalFact> fact(Resource resource, JpaEncounterContext.Span span) {
        return type.isInstance(resource) && !FactText.isAiWritten(resource)
            ? fact.apply(type.cast(resource), span) : Optional.empty();
      }

      @Override
      public String toString() {
        return name + " by " + link.name().toLowerCase(java.util.Locale.ROOT);
      }
    };
  }

  /**
   * The records of an encounter read as a patient's record does ({@link RecordSections}: one text
   * per kind of record); what differs is the choice as of the encounter and, for its diagnoses and
   * background problems, the status then.
   */
  public static List<EncounterSection> defaults() {
    return List.of(
        of(Condition.class, Link.ENCOUNTER, Condition.SP_ENCOUNTER, (c, span) ->
            span.after(FactText.instant(c.getRecordedDate())) || FactText.refutedOrInError(c.getVerificationStatus())
                ? Optional.empty() : Optional.of(JpaEncounterContext.conditionFact(c, Section.ENCOUNTER_DIAGNOSIS, span))),
        of(Procedure.class, Link.ENCOUNTER, Procedure.SP_ENCOUNTER, (p, span) -> RecordSections.procedure(p)),
        of(MedicationRequest.class, Link.ENCOUNTER, MedicationRequest.SP_ENCOUNTER, (m, span) ->
            RecordSections.medication(m, Section.MEDICATION)),
        of(MedicationAdministration.class, Link.ENCOUNTER, MedicationAdministration.SP_CONTEXT, (m, span) ->
            m.getStatus() == MedicationAdministration.MedicationAdministrationStatus.ENTEREDINERROR ? Optional.empty()
                : Optional.of(new ClinicalFact(Section.MEDICATION, versioned(m), when(m.getEffective()),
                    "Medication given (" + FactText.code(m.getStatus())
                        + FactText.prefixed(", ", FactText.dateOf(m.getEffective())) + "): "
                        + FactText.medication(m.getMedication())
                        + FactText.prefixed("; dose: ", m.getDosage().hasDose()
                            ? FactText.quantity(m.getDosage().getDose()) : null)))),
        of(DiagnosticReport.class, Link.ENCOUNTER, DiagnosticReport.SP_ENCOUNTER, (r, span) -> RecordSections.report(r)),
        of(DocumentReference.class, Link.ENCOUNTER, DocumentReference.SP_ENCOUNTER, (d, span) -> RecordSections.note(d)),
        of(Observation.class, Link.ENCOUNTER, Observation.SP_ENCOUNTER, (o, span) -> RecordSections.observation(o)),
        of(AllergyIntolerance.class, Link.PATIENT, AllergyIntolerance.SP_PATIENT, (a, span) ->
            JpaEncounterContext.knownDuring(a, span) ? RecordSections.allergy(a) : Optional.empty()),
        of(Condition.class, Link.PATIENT, Condition.SP_PATIENT, (c, span) ->
            JpaEncounterContext.activeDuring(c, span)
                ? Optional.of(JpaEncounterContext.conditionFact(c, Section.ACTIVE_PROBLEM, span)) : Optional.empty()),
        of(MedicationRequest.class, Link.PATIENT, MedicationRequest.SP_PATIENT, (m, span) ->
            JpaEncounterContext.activeDuring(m, span) ? RecordSections.medication(m, Section.ACTIVE_MEDICATION)
                : Optional.empty()));
  }
}
