package dev.medgemmafhir.interceptors.audit;

/**
 * What the AI operations tell the audit trail, through {@code RequestDetails.getUserData()}.
 * Plain HAPI/JDK types only, so the operations need no dependency on this module.
 */
public final class AuditContract {

  /**
   * The model that produced the output. The operations ({@code $summarize}, {@code $draft-report})
   * put here an {@code org.hl7.fhir.r4.model.Reference} whose {@code reference} is the model's
   * {@code Device/{id}} and whose {@code display} is the model id (for example
   * {@code medgemma-4b-it q4}); a plain {@code String} {@code "Device/{id}"} is accepted too.
   * Set it as soon as the model is known, so a failed run is attributed as well. When absent,
   * the audit trail takes the Device from the returned resource's {@code author} or from its AI
   * Provenance.
   */
  public static final String MODEL = "medgemma.model";

  /** The verifying Practitioner, a {@code Reference}; set by {@code $verify}. */
  public static final String VERIFIER = "medgemma.verifier";

  /** The review decision ({@code accept} / {@code reject}), a {@code String}; set by {@code $verify}. */
  public static final String DECISION = "medgemma.decision";

  private AuditContract() {}
}
