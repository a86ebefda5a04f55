package dev.medgemmafhir.operations.context;

import java.util.Optional;
import org.hl7.fhir.r4.model.Resource;

/**
 * One kind of record in a patient's context, IPS-style: which resources are searched, which of them
 * are used, and how each reads as a fact. The sections are a list (a Spring bean) that a site can
 * extend or replace, e.g. with a section for its own note type.
 */
public interface RecordSection {

  /** The resource type searched, e.g. {@code Condition}. */
  String resourceType();

  /** The search parameter that names the patient, e.g. {@code patient} or {@code subject}. */
  String patientParameter();

  /**
   * The fact a found resource contributes, or empty when it is left out (entered in error, refuted,
   * written by this server's AI, nothing to say). Inactive records are kept and say so in their text.
   */
  Optional<ClinicalFact> fact(Resource resource);
}
