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

  /** Canonical base of the AI Transparency on FHIR IG ({@code hl7.fhir.uv.aitransparency}). */
  public static final String IG_BASE = "http://hl7.org/fhir/uv/aitransparency";
  public static final String AI_DEVICE_PROFILE = IG_BASE + "/StructureDefinition/AI-Device";
  public static final String AI_MODEL_CARD_PROFILE = IG_BASE + "/StructureDefinition/AI-ModelCard";
  public static final String AI_INPUT_PROMPT_PROFILE = IG_BASE + "/StructureDefinition/AI-InputPrompt";
  /** Device extension: the kind(s) of AI (a code from AIdeviceTypeCS). */
  public static final String AI_KIND_EXTENSION = IG_BASE + "/StructureDefinition/aitransparency.AIKind";
  /** Device extension: Reference to the model's AIModelCard DocumentReference. */
  public static final String MODEL_CARD_EXTENSION = IG_BASE + "/StructureDefinition/aitransparency.modelCardDescription";
  /** DocumentReference.type codes of model cards and input prompts. */
  public static final String AI_INPUTS_SYSTEM = IG_BASE + "/CodeSystem/AIinputsCS";
  public static final String AI_MODEL_CARD = "AIModelCard";
  public static final String AI_MODEL_CARD_MARKDOWN = "AIModelCardMarkdownFormat";
  public static final String AI_INPUT_PROMPT = "AIInputPrompt";

  /** Identifier system of the model Devices this server creates (value: model id + variant + digest). */
  public static final String DEVICE_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:model";
  /** Identifier system of the drafts' idempotency keys (value: a digest of inputs, model and parameters). */
  public static final String DRAFT_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:draft";
  /** Identifier system of the stored prompts (value: the draft's idempotency key). */
  public static final String PROMPT_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:prompt";
  /** Identifier system of the model cards (value: the Device identifier's value). */
  public static final String MODEL_CARD_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:model-card";
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

  /** A code of the IG's AIdeviceTypeCS, as the profiles fix it (system and code, no display). */
  public static Coding aiDeviceType(String code) {
    return new Coding().setSystem(AI_DEVICE_TYPE_SYSTEM).setCode(code);
  }

  /** A code of the IG's AIinputsCS (system and code only: the profiles fix it exactly). */
  public static Coding aiInputs(String code) {
    return new Coding().setSystem(AI_INPUTS_SYSTEM).setCode(code);
  }
}
