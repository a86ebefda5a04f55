package dev.medgemmafhir.vocabulary;

/**
 * What the operations leave on a request ({@code RequestDetails.getUserData()}) for the audit trail.
 * Values are plain HAPI/JDK types, so neither side needs the other's classes.
 */
public final class RequestData {

  /**
   * The model that ran: its configured id as a {@code String} (for example {@code medgemma-4b}), put
   * as soon as the model is chosen so failed runs are attributed too. An
   * {@code org.hl7.fhir.r4.model.Reference} to the model's {@code Device/{id}}, or a {@code String}
   * {@code "Device/{id}"}, is accepted as well. When absent, the audit trail takes the Device from the
   * returned resource's {@code author} or from its AI Provenance.
   */
  public static final String MODEL = "medgemma.model";

  /** The model Device's identifier as {@code system|value} (a {@code String}); set with {@link #MODEL}. */
  public static final String MODEL_DEVICE = "medgemma.model.device";

  /** The operation's target, e.g. {@code Encounter/12} (a {@code String}). */
  public static final String TARGET = "medgemma.target";

  /** The verifying Practitioner, a {@code Reference}; set by {@code $verify}. */
  public static final String VERIFIER = "medgemma.verifier";

  /** The review decision ({@code accept} / {@code reject}), a {@code String}; set by {@code $verify}. */
  public static final String DECISION = "medgemma.decision";

  /**
   * The automatic drafting rule that started the operation (a {@code String}, e.g.
   * {@code encounter-finished-discharge}); absent when a client called it. The audit trail then names
   * the rule, not a user, as the requestor.
   */
  public static final String AUTO_DRAFT_RULE = "medgemma.auto-draft.rule";

  private RequestData() {}
}
