package dev.medgemmafhir.operations.context;

import java.time.Instant;
import java.util.Comparator;

/**
 * One fact of the clinical context: a single compact line of text and the exact resource version
 * it came from, so the model can cite it and the citation can be turned back into a reference.
 *
 * @param section what kind of fact it is; sections are ordered by priority
 * @param reference the versioned reference of the source, e.g. {@code Condition/12/_history/3}
 * @param date when it happened (for ordering within a section; newest first), may be null
 * @param text the line the model sees, without its citation key
 */
public record ClinicalFact(Section section, String reference, Instant date, String text) {

  /**
   * Priority order: when the context must be cut, later sections lose first. What was recorded in
   * the encounter comes before the patient's background (allergies, problems and medications active
   * at the time), so a long history cannot crowd out the encounter being summarised.
   */
  public enum Section {
    ENCOUNTER("Encounter"),
    PATIENT("Patient"),
    ENCOUNTER_DIAGNOSIS("Diagnoses in this encounter"),
    PROCEDURE("Procedures"),
    MEDICATION("Medications"),
    REPORT("Diagnostic reports"),
    NOTE("Notes"),
    OBSERVATION("Observations"),
    ALLERGY("Allergies"),
    ACTIVE_PROBLEM("Problems active at the encounter"),
    ACTIVE_MEDICATION("Medications active at the encounter"),
    IMMUNIZATION("Immunizations"),
    VISIT("Encounters");

    private final String heading;

    Section(String heading) {
      this.heading = heading;
    }

    public String heading() {
      return heading;
    }

    /** Recorded in the encounter itself (or the encounter and its patient), not background. */
    public boolean ofTheEncounter() {
      return compareTo(ALLERGY) < 0;
    }
  }

  /** Section first, then newest first, then reference for a stable order. */
  public static final Comparator<ClinicalFact> PRIORITY =
      Comparator.comparing(ClinicalFact::section)
          .thenComparing(ClinicalFact::date, Comparator.nullsLast(Comparator.reverseOrder()))
          .thenComparing(ClinicalFact::reference);

  public ClinicalFact {
    if (text == null || text.isBlank()) {
      throw new IllegalArgumentException("a fact needs text: " + reference);
    }
    // One fact is one line: the citation key goes in front of it.
    text = dev.medgemmafhir.operations.prompt.PromptText.defuse(text.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip());
  }

  /** The resource type of the source, e.g. {@code Condition}. */
  public String resourceType() {
    return reference.substring(0, reference.indexOf('/'));
  }
}
