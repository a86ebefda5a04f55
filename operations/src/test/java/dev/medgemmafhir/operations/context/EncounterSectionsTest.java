package dev.medgemmafhir.operations.context;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.Test;

/**
 * A record reads the same in an encounter's context as in a patient's record: the encounter
 * sections take their text from the record sections' one definition per kind.
 */
class EncounterSectionsTest {

  /** An encounter still in progress: nothing is "after" it, so every record below counts. */
  static final JpaEncounterContext.Span OPEN = new JpaEncounterContext.Span(null, null);

  static Optional<ClinicalFact> inEncounter(Resource resource, EncounterSection.Link link) {
    List<EncounterSection> sections = EncounterSections.defaults().stream()
        .filter(s -> s.resourceType().equals(resource.fhirType()) && s.link() == link).toList();
    assertThat(sections).as("an encounter section for " + resource.fhirType() + " by " + link).hasSize(1);
    return sections.get(0).fact(resource, OPEN);
  }

  static void readsAsInTheRecord(Resource resource, EncounterSection.Link link) {
    resource.setId(resource.fhirType() + "/1/_history/1"); // as RecordSectionsTest.fact names it
    Optional<ClinicalFact> record = RecordSectionsTest.fact(resource.copy());
    Optional<ClinicalFact> encounter = inEncounter(resource, link);
    assertThat(record).as(resource.fhirType() + " in the record").isPresent();
    assertThat(encounter).as(resource.fhirType() + " in the encounter").isPresent();
    assertThat(encounter.get().text()).isEqualTo(record.get().text());
    assertThat(encounter.get().reference()).isEqualTo(record.get().reference());
  }

  @Test
  void observationsReportsNotesProceduresAllergiesAndOrdersReadAsInTheRecord() {
    // Details only one of the two former copies wrote: a status not yet final, an unconfirmed
    // allergy, a superseded note, a procedure without a code.
    readsAsInTheRecord(RecordSectionsTest.observation(Observation.ObservationStatus.PRELIMINARY),
        EncounterSection.Link.ENCOUNTER);
    DiagnosticReport report = new DiagnosticReport().setStatus(DiagnosticReport.DiagnosticReportStatus.FINAL)
        .setConclusion("No acute finding");
    report.getCode().setText("Chest X-ray");
    readsAsInTheRecord(report, EncounterSection.Link.ENCOUNTER);
    DocumentReference note = new DocumentReference().setStatus(Enumerations.DocumentReferenceStatus.SUPERSEDED);
    note.addContent().getAttachment().setContentType("text/plain")
        .setData("Seen on the ward".getBytes(StandardCharsets.UTF_8));
    readsAsInTheRecord(note, EncounterSection.Link.ENCOUNTER);
    readsAsInTheRecord(new Procedure().setStatus(Procedure.ProcedureStatus.COMPLETED), EncounterSection.Link.ENCOUNTER);
    MedicationRequest order = new MedicationRequest().setStatus(MedicationRequest.MedicationRequestStatus.ACTIVE)
        .setMedication(new CodeableConcept().setText("Amoxicillin"));
    readsAsInTheRecord(order, EncounterSection.Link.ENCOUNTER);
    AllergyIntolerance allergy = new AllergyIntolerance();
    allergy.getCode().setText("Penicillin");
    allergy.setVerificationStatus(new CodeableConcept().addCoding(new Coding(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "unconfirmed", null)));
    readsAsInTheRecord(allergy, EncounterSection.Link.PATIENT);
  }

  @Test
  void theSectionDiffersWhereTheEncounterPlacesTheRecord() {
    MedicationRequest order = new MedicationRequest().setStatus(MedicationRequest.MedicationRequestStatus.ACTIVE)
        .setMedication(new CodeableConcept().setText("Amoxicillin"));
    order.setId("MedicationRequest/3/_history/1");
    assertThat(inEncounter(order, EncounterSection.Link.ENCOUNTER)).hasValueSatisfying(
        f -> assertThat(f.section()).isEqualTo(ClinicalFact.Section.MEDICATION));
    assertThat(inEncounter(order, EncounterSection.Link.PATIENT)).hasValueSatisfying(
        f -> assertThat(f.section()).isEqualTo(ClinicalFact.Section.ACTIVE_MEDICATION));
  }
}
