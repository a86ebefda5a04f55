package dev.medgemmafhir.operations.context;

import java.util.LinkedHashSet;
import java.util.List;
import org.hl7.fhir.r4.model.Patient;

/**
 * What a patient's record holds for a question about them.
 *
 * @param patient the patient (its demographics line is not a citable fact)
 * @param facts one entry per fact, in any order
 * @param leftOut resources found but left out by their section (entered in error, refuted, AI-written)
 */
public record PatientRecord(Patient patient, List<ClinicalFact> facts, int leftOut) {

  public PatientRecord {
    facts = List.copyOf(facts);
  }

  /** Versioned references of every resource read (the patient and every fact), each once. */
  public List<String> inputs() {
    LinkedHashSet<String> refs = new LinkedHashSet<>();
    refs.add(FactText.versioned(patient));
    facts.forEach(f -> refs.add(f.reference()));
    return List.copyOf(refs);
  }
}
