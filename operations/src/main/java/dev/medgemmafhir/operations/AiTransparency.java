package dev.medgemmafhir.operations;

import org.hl7.fhir.r4.model.Coding;

/** Codes and URLs from HL7 AI Transparency on FHIR that every AI-written resource carries. */
public final class AiTransparency {

  public static final String OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
  public static final String AIAST = "AIAST";
  public static final String AI_DEVICE_TYPE_SYSTEM =
      "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS";
  public static final String AI_DEVICE_TYPE = "Artificial-Intelligence";
  public static final String AI_PROVENANCE_PROFILE =
      "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance";
  public static final String PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type";

  /** Identifier system of the model Devices this server creates (value: model id + variant + digest). */
  public static final String DEVICE_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:model";
  /** Identifier system of the drafts' idempotency keys (value: a digest of inputs, model and parameters). */
  public static final String DRAFT_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:draft";
  /** Base of this server's own extensions. */
  public static final String EXTENSION_BASE = "https://medgemma-fhir.dev/fhir/StructureDefinition/";
  /** How the operation built its input: facts used / omitted per resource type, unknown citations. */
  public static final String CONTEXT_EXTENSION = EXTENSION_BASE + "ai-input-summary";
  /**
   * On a model Device: the conversion record ({@code conversion.json}) of a model this project converted
   * from a Hugging Face checkpoint, as an Attachment: which official weights (repository, revision, the
   * sha256 of every source file) and which options produced the graphs the Device names.
   */
  public static final String MODEL_CONVERSION_EXTENSION = EXTENSION_BASE + "model-conversion";

  private AiTransparency() {}

  public static Coding aiast() {
    return new Coding(OBSERVATION_VALUE, AIAST, "Artificial Intelligence asserted");
  }
}
