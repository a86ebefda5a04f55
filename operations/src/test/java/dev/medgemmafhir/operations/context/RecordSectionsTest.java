package dev.medgemmafhir.operations.context;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.Test;

/** The default record sections: what a patient's record contributes to a question, and what it leaves out. */
class RecordSectionsTest {

  static final String CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical";
  static final String VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status";

  static Optional<ClinicalFact> fact(Resource resource) {
    List<RecordSection> sections = RecordSections.defaults().stream()
        .filter(s -> s.resourceType().equals(resource.fhirType())).toList();
    assertThat(sections).as("a section for " + resource.fhirType()).hasSize(1);
    resource.setId(resource.fhirType() + "/1/_history/1");
    return sections.get(0).fact(resource);
  }

  static Condition condition(String clinical, String verification) {
    Condition c = new Condition();
    c.setClinicalStatus(new CodeableConcept().addCoding(new Coding(CLINICAL, clinical, null)));
    c.setVerificationStatus(new CodeableConcept().addCoding(new Coding(VERIFICATION, verification, null)));
    c.getCode().setText("Hypertension");
    return c;
  }

  static Observation observation(Observation.ObservationStatus status) {
    Observation o = new Observation().setStatus(status);
    o.getCode().setText("Potassium");
    o.setValue(new Quantity(4.1).setUnit("mmol/L"));
    return o;
  }

  @Test
  void recordsEnteredInErrorAreLeftOut() {
    assertThat(fact(condition("active", "entered-in-error"))).isEmpty();
    assertThat(fact(observation(Observation.ObservationStatus.ENTEREDINERROR))).isEmpty();
    assertThat(fact(new MedicationRequest().setStatus(MedicationRequest.MedicationRequestStatus.ENTEREDINERROR)))
        .isEmpty();
    assertThat(fact(new Procedure().setStatus(Procedure.ProcedureStatus.ENTEREDINERROR))).isEmpty();
    DocumentReference note = new DocumentReference().setStatus(Enumerations.DocumentReferenceStatus.ENTEREDINERROR);
    note.addContent().getAttachment().setContentType("text/plain").setData("Wrong patient".getBytes());
    assertThat(fact(note)).isEmpty();
    // The same records, not in error, are facts.
    assertThat(fact(condition("active", "confirmed"))).isPresent();
    assertThat(fact(observation(Observation.ObservationStatus.FINAL))).hasValueSatisfying(f ->
        assertThat(f.text()).contains("Potassium = 4.1 mmol/L"));
  }

  @Test
  void refutedRecordsAreLeftOut() {
    assertThat(fact(condition("active", "refuted"))).isEmpty();
    AllergyIntolerance allergy = new AllergyIntolerance();
    allergy.getVerificationStatus().addCoding(new Coding(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "refuted", null));
    allergy.getCode().setText("Penicillin");
    assertThat(fact(allergy)).isEmpty();
  }

  @Test
  void inactiveRecordsAreKeptAndSaySoFirst() {
    assertThat(fact(condition("resolved", "confirmed"))).hasValueSatisfying(f ->
        assertThat(f.text()).startsWith("Condition (resolved").endsWith("Hypertension"));
    MedicationRequest stopped = new MedicationRequest().setStatus(MedicationRequest.MedicationRequestStatus.STOPPED);
    stopped.getMedicationCodeableConcept().setText("Lisinopril");
    assertThat(fact(stopped)).hasValueSatisfying(f -> assertThat(f.text()).startsWith("Medication ordered (stopped"));
    AllergyIntolerance inactive = new AllergyIntolerance();
    inactive.getClinicalStatus().addCoding(new Coding(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "inactive", null));
    inactive.getCode().setText("Latex");
    assertThat(fact(inactive)).hasValueSatisfying(f -> assertThat(f.text()).startsWith("Allergy (inactive"));
    // Unconfirmed is said too; confirmed goes without saying.
    assertThat(fact(condition("active", "provisional"))).hasValueSatisfying(f ->
        assertThat(f.text()).startsWith("Condition (active, provisional"));
    assertThat(fact(observation(Observation.ObservationStatus.PRELIMINARY))).hasValueSatisfying(f ->
        assertThat(f.text()).contains(", preliminary)"));
  }

  @Test
  void whatThisServersAiWroteIsNeverInput() {
    Observation o = observation(Observation.ObservationStatus.FINAL);
    o.getMeta().addSecurity(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, AiVocabulary.AIAST_DISPLAY);
    assertThat(fact(o)).isEmpty();
  }
}
