package dev.medgemmafhir.operations.context;

import java.util.Optional;
import org.hl7.fhir.r4.model.Resource;

/**
 * One kind of record in an encounter's context, IPS-style: which search finds it (by the encounter
 * or by its patient), which found records count as of the encounter, and how each reads as a fact.
 * {@link EncounterSections#defaults()} is the list {@code $summarize} and {@code Encounter/$ask} use;
 * a site adds or replaces one by defining the {@code encounterSections} bean.
 */
public interface EncounterSection {

  /** What the search names: the encounter ({@code Observation?encounter=...}) or its patient (background). */
  enum Link { ENCOUNTER, PATIENT }

  /** The resource type searched, e.g. {@code Observation}. */
  String resourceType();

  Link link();

  /** The search parameter naming the encounter or patient, e.g. {@code encounter}, {@code context}, {@code patient}. */
  String searchParameter();

  /**
   * The fact a found resource contributes as of the encounter ({@code span}), or empty when it does
   * not count (entered in error, refuted, not yet or no longer active, written by this server's AI).
   * Facts dated after the encounter's end are dropped afterwards in any case.
   */
  Optional<ClinicalFact> fact(Resource resource, JpaEncounterContext.Span span);
}
