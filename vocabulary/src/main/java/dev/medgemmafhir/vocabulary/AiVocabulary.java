package dev.medgemmafhir.vocabulary;

import java.util.Set;

/**
 * The codes and URLs that mark and explain AI-written content (HL7 AI Transparency on FHIR) and this
 * server's own identifier systems and extensions. The operations write them and the interceptors
 * recognise them; both read them from here, so the two cannot drift apart.
 */
public final class AiVocabulary {

  public static final String OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
  /** {@code meta.security} code of every AI-written resource: "Artificial Intelligence asserted". */
  public static final String AIAST = "AIAST";
  public static final String AIAST_DISPLAY = "Artificial Intelligence asserted";
  /** {@code system|code} of the AI label, as a token search parameter takes it ({@code _security=...}). */
  public static final String AIAST_TOKEN = OBSERVATION_VALUE + "|" + AIAST;
  public static final String AI_DEVICE_TYPE_SYSTEM = "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS";
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
  /** Device.version type text of the digest of the ONNX files the server loads. */
  public static final String ONNX_WEIGHTS_VERSION = "onnx weights digest";
  /** Device.version type text (then the file's path) of a source checkpoint file's sha256; replay compares these. */
  public static final String SOURCE_WEIGHTS_VERSION = "source weights sha256";
  /** Identifier system of the stored prompts (value: the draft's idempotency key). */
  public static final String PROMPT_IDENTIFIER_SYSTEM = "urn:medgemma-fhir:prompt";
  /** Identifier system of the automatic drafting rules, as an AuditEvent's requestor (value: the rule's code). */
  public static final String AUTO_DRAFT_RULE_SYSTEM = "urn:medgemma-fhir:auto-draft-rule";
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
  /** On an AI DiagnosticReport: the earlier unverified draft of the same study it replaces (R4 has no relatesTo there). */
  public static final String REPLACES_EXTENSION = EXTENSION_BASE + "replaces";

  /** The AI operations, as HAPI names them on a request. */
  public static final String SUMMARIZE = "$summarize";
  public static final String DRAFT_REPORT = "$draft-report";
  public static final String ASK = "$ask";
  /**
   * The parameter of {@code $ask}'s answer (a Parameters resource, stored nowhere) that names the
   * DocumentReference the answer was kept as ({@code persist=true}); the audit trail names it too.
   */
  public static final String ASK_DOCUMENT_PARAMETER = "document";
  public static final String VERIFY = "$verify";
  /** The operations that run a model. */
  public static final Set<String> AI_OPERATIONS = Set.of(SUMMARIZE, DRAFT_REPORT, ASK);

  private AiVocabulary() {}
}
