package dev.medgemmafhir.operations.context;

import java.util.List;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Patient;

/**
 * Everything known about one encounter that a summary may use.
 *
 * @param encounter the encounter itself
 * @param patient its subject (null when the encounter has none)
 * @param facts one entry per fact, in any order
 */
public record EncounterContext(Encounter encounter, Patient patient, List<ClinicalFact> facts) {

  public EncounterContext {
    facts = List.copyOf(facts);
  }

  /** Versioned references of every resource read, each once, in first-seen order. */
  public List<String> inputs() {
    java.util.LinkedHashSet<String> refs = new java.util.LinkedHashSet<>();
    refs.add(FactText.versioned(encounter));
    if (patient != null) {
      refs.add(FactText.versioned(patient));
    }
    facts.forEach(f -> refs.add(f.reference()));
    return List.copyOf(refs);
  }
}
