package dev.medgemmafhir.server.transparency;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;

/**
 * The rules of HL7 AI Transparency on FHIR (1.0.0 ballot, input/fsh of HL7/aitransparency-ig) that
 * the server's resources must meet, written from the profiles' FSH: AIDevice, AIModelCard,
 * AIInputPrompt, AIProvenance and the AIAST label. Each check returns the violations it found
 * (empty = conformant), so a test can also prove that a broken resource is caught.
 */
final class AiTransparencyRules {

  static final String IG = "http://hl7.org/fhir/uv/aitransparency";
  static final String DEVICE_TYPE_CS = IG + "/CodeSystem/AIdeviceTypeCS";
  static final String INPUTS_CS = IG + "/CodeSystem/AIinputsCS";
  static final String AIAST_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
  static final String AI_KIND = IG + "/StructureDefinition/aitransparency.AIKind";
  static final String MODEL_CARD_EXT = IG + "/StructureDefinition/aitransparency.modelCardDescription";

  private AiTransparencyRules() {}

  /** {@code x = System#code (exactly)}: one coding with just that system and code. */
  private static boolean exactly(CodeableConcept concept, String system, String code) {
    return concept.getCoding().size() == 1 && !concept.hasText() && exactly(concept.getCodingFirstRep(), system, code);
  }

  private static boolean exactly(Coding coding, String system, String code) {
    return system.equals(coding.getSystem()) && code.equals(coding.getCode()) && !coding.hasDisplay()
        && !coding.hasVersion() && !coding.hasUserSelected();
  }

  static boolean hasAiast(Resource resource) {
    return resource.getMeta().getSecurity().stream()
        .anyMatch(c -> AIAST_SYSTEM.equals(c.getSystem()) && "AIAST".equals(c.getCode()));
  }

  /** Profile AIDevice: type 1..1 fixed; aiKind values from AIdeviceTypeCS; modelCardDescription a Reference. */
  static List<String> aiDevice(Device device) {
    List<String> errors = new ArrayList<>();
    if (!device.hasType() || !exactly(device.getType(), DEVICE_TYPE_CS, "Artificial-Intelligence")) {
      errors.add("Device.type must be exactly AIdeviceTypeCS#Artificial-Intelligence, was "
          + device.getType().getCoding().stream().map(c -> c.getSystem() + "#" + c.getCode() + " '" + c.getDisplay() + "'").toList());
    }
    for (Extension kind : device.getExtensionsByUrl(AI_KIND)) {
      if (!(kind.getValue() instanceof CodeableConcept concept) || concept.getCoding().isEmpty()) {
        errors.add("aiKind needs valueCodeableConcept (1..1)");
      } else if (concept.getCoding().stream().anyMatch(c -> !DEVICE_TYPE_CS.equals(c.getSystem()))) {
        errors.add("aiKind should be from AIdeviceTypeVS");
      } else if (concept.getCoding().stream().anyMatch(c -> "Artificial-Intelligence".equals(c.getCode()))) {
        errors.add("AIdeviceTypeVS excludes Artificial-Intelligence itself");
      }
    }
    for (Extension card : device.getExtensionsByUrl(MODEL_CARD_EXT)) {
      if (!(card.getValue() instanceof Reference ref) || !ref.hasReference()) {
        errors.add("modelCardDescription needs valueReference (1..1)");
      }
    }
    return errors;
  }

  /** Profile AIModelCard: type fixed AIModelCard; category 1..*; Markdown content is exactly text/markdown. */
  static List<String> aiModelCard(DocumentReference card) {
    List<String> errors = new ArrayList<>();
    if (!exactly(card.getType(), INPUTS_CS, "AIModelCard")) {
      errors.add("type must be exactly AIinputsCS#AIModelCard");
    }
    if (card.getCategory().isEmpty()) {
      errors.add("category is 1..*");
    }
    boolean markdownCategory = card.getCategory().stream().flatMap(c -> c.getCoding().stream())
        .anyMatch(c -> INPUTS_CS.equals(c.getSystem()) && "AIModelCardMarkdownFormat".equals(c.getCode()));
    boolean markdownContent = card.getContent().stream().map(DocumentReference.DocumentReferenceContentComponent::getAttachment)
        .anyMatch(a -> "text/markdown".equals(a.getContentType()) && (a.hasData() || a.hasUrl()));
    if (markdownCategory != markdownContent) {
      errors.add("the Markdown category and a text/markdown content (with data or url) go together");
    }
    contentSlices(card, errors);
    return errors;
  }

  /** Profile AIInputPrompt: type.coding closed slice of AIInputPrompt codings only (1..*); content slice. */
  static List<String> aiInputPrompt(DocumentReference prompt) {
    List<String> errors = new ArrayList<>();
    if (!prompt.hasType() || prompt.getType().getCoding().isEmpty()) {
      errors.add("type 1..1 with an AIInputPrompt coding");
    }
    for (Coding coding : prompt.getType().getCoding()) {
      if (!exactly(coding, INPUTS_CS, "AIInputPrompt")) {
        errors.add("type.coding is closed to AIinputsCS#AIInputPrompt (exactly), found " + coding.getSystem() + "#" + coding.getCode());
      }
    }
    contentSlices(prompt, errors);
    return errors;
  }

  /** A content whose contentType starts with text/markdown falls in the MarkdownFormat slice only if exact. */
  private static void contentSlices(DocumentReference document, List<String> errors) {
    long markdown = document.getContent().stream().map(DocumentReference.DocumentReferenceContentComponent::getAttachment)
        .map(Attachment::getContentType).filter("text/markdown"::equals).count();
    if (markdown > 1) {
      errors.add("content[MarkdownFormat] is 0..1");
    }
    if (document.getContent().stream().anyMatch(c -> !c.getAttachment().hasContentType())) {
      errors.add("every content needs a contentType to be sliced");
    }
  }

  /**
   * Profile AIProvenance: target 1..*; reason[AIReason] (AIAST) 1..*; agent[AIagent] 1..* with role
   * exactly AIdeviceTypeCS#Artificial-Intelligence, a type, and who an AIDevice; entities that resolve
   * to an AIModelCard or AIInputPrompt have role derivation.
   *
   * @param resolve reads a referenced resource (null when it cannot be read)
   */
  static List<String> aiProvenance(Provenance provenance, Function<String, Resource> resolve) {
    List<String> errors = new ArrayList<>();
    if (provenance.getTarget().isEmpty()) {
      errors.add("target is 1..*");
    }
    if (provenance.getReason().stream().flatMap(r -> r.getCoding().stream())
        .noneMatch(c -> AIAST_SYSTEM.equals(c.getSystem()) && "AIAST".equals(c.getCode()))) {
      errors.add("reason[AIReason] (AIAST from ProvenanceVS) is 1..*");
    }
    List<Provenance.ProvenanceAgentComponent> aiAgents = provenance.getAgent().stream()
        .filter(a -> a.getRole().stream().anyMatch(r -> exactly(r, DEVICE_TYPE_CS, "Artificial-Intelligence"))).toList();
    if (aiAgents.isEmpty()) {
      errors.add("agent[AIagent] (role exactly AIdeviceTypeCS#Artificial-Intelligence) is 1..*");
    }
    for (Provenance.ProvenanceAgentComponent agent : aiAgents) {
      if (agent.getType().getCoding().isEmpty()) {
        errors.add("agent[AIagent].type is 1..1");
      }
      Resource who = agent.getWho().hasReference() ? resolve.apply(agent.getWho().getReference()) : null;
      if (!(who instanceof Device device) || !aiDevice(device).isEmpty()) {
        errors.add("agent[AIagent].who must be an AIDevice: " + agent.getWho().getReference()
            + (who instanceof Device d ? " " + aiDevice(d) : ""));
      }
    }
    for (Provenance.ProvenanceEntityComponent entity : provenance.getEntity()) {
      Resource what = resolve.apply(entity.getWhat().getReference());
      if (what instanceof DocumentReference doc && doc.getType().getCoding().stream()
          .anyMatch(c -> INPUTS_CS.equals(c.getSystem()))) {
        if (entity.getRole() != Provenance.ProvenanceEntityRole.DERIVATION) {
          errors.add("entity[modelCard|inputPrompt].role must be derivation: " + entity.getWhat().getReference());
        }
        boolean card = doc.getType().getCoding().stream().anyMatch(c -> "AIModelCard".equals(c.getCode()));
        List<String> inner = card ? aiModelCard(doc) : aiInputPrompt(doc);
        inner.forEach(e -> errors.add(entity.getWhat().getReference() + ": " + e));
      }
    }
    return errors;
  }
}
