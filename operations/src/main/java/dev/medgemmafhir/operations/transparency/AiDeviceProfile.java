package dev.medgemmafhir.operations.transparency;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.io.IOException;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Device;

/**
 * Makes a model's Device an AIDevice (AI Transparency on FHIR): the fixed type, the kinds of AI,
 * and, for a model this project converted, the sha256 of every official weights file it was
 * converted from (read from its {@code conversion.json}) as Device versions next to the digest of
 * the ONNX files the server runs.
 */
public final class AiDeviceProfile {

  private static final ObjectMapper JSON = new ObjectMapper();

  private AiDeviceProfile() {}

  public static Device apply(Device device, ModelIdentity identity) {
    device.getMeta().addProfile(AiVocabulary.AI_DEVICE_PROFILE);
    // AIDevice fixes the type exactly: system and code, nothing else.
    device.setType(new CodeableConcept().addCoding(AiTransparency.aiDeviceType(AiVocabulary.AI_DEVICE_TYPE)));
    aiKind(device, "Large-Language-Models");
    if (!identity.modelType().endsWith("_text")) {
      aiKind(device, "Vision-Language-Models");
    }
    aiKind(device, "Clinical-Documentation-and-Workflow");
    if (device.getVersionFirstRep().hasValue() && !device.getVersionFirstRep().hasType()) {
      device.getVersionFirstRep().setType(new CodeableConcept().setText(AiVocabulary.ONNX_WEIGHTS_VERSION));
    }
    identity.conversionRecord().ifPresent(record -> sourceWeights(device, record));
    return device;
  }

  private static void aiKind(Device device, String code) {
    device.addExtension(AiVocabulary.AI_KIND_EXTENSION,
        new CodeableConcept().addCoding(AiTransparency.aiDeviceType(code)));
  }

  private static void sourceWeights(Device device, String record) {
    JsonNode root;
    try {
      root = JSON.readTree(record);
    } catch (IOException e) {
      return; // an unreadable record is still attached as it is (model-conversion extension)
    }
    JsonNode source = root.path("source");
    String origin = source.path("repository").asText("") + (source.has("revision") ? "@" + source.path("revision").asText() : "");
    for (JsonNode file : source.path("files")) {
      String path = file.path("path").asText();
      if (path.endsWith(".safetensors") && file.hasNonNull("sha256")) {
        device.addVersion()
            .setType(new CodeableConcept().setText(AiVocabulary.SOURCE_WEIGHTS_VERSION + " " + (origin.isEmpty() ? "" : origin + "/") + path))
            .setValue(file.path("sha256").asText());
      }
    }
  }
}
