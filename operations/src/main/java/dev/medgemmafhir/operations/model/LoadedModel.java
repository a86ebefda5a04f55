package dev.medgemmafhir.operations.model;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.Reference;

/**
 * A configured model that is ready: its engine, its inference queue and the FHIR Device that
 * describes it as the author of what it writes.
 */
public final class LoadedModel {

  private final String id;
  private final String displayName;
  private final Engine engine;
  private final InferenceQueue queue;
  private final Identifier deviceIdentifier;
  private final String version;

  public LoadedModel(String id, String displayName, Engine engine, InferenceQueue queue) {
    this.id = id;
    this.displayName = displayName;
    this.engine = engine;
    this.queue = queue;
    ModelIdentity identity = engine.identity();
    // Reading the weights' digest is slow on a real model, so it happens once, here.
    String digest = identity.digest();
    this.version = identity.revision().map(r -> r + " ").orElse("") + digest;
    this.deviceIdentifier = new Identifier()
        .setSystem(AiVocabulary.DEVICE_IDENTIFIER_SYSTEM)
        .setValue(identity.modelId() + ":" + identity.variant() + ":" + digest);
  }

  public String id() {
    return id;
  }

  public String displayName() {
    return displayName;
  }

  public Engine engine() {
    return engine;
  }

  public InferenceQueue queue() {
    return queue;
  }

  /** Model id, variant and weights digest: stable across restarts and replicas. */
  public Identifier deviceIdentifier() {
    return deviceIdentifier.copy();
  }

  /** The conditional-create URL that finds this model's Device. */
  public String deviceMatchUrl() {
    return "Device?identifier=" + deviceIdentifier.getSystem() + "|" + deviceIdentifier.getValue();
  }

  /** A logical reference to the Device, usable before the Device exists (persist=false). */
  public Reference deviceLogicalReference() {
    return new Reference().setIdentifier(deviceIdentifier()).setDisplay(displayName);
  }

  /** The Device resource describing this model (AI Transparency on FHIR). */
  public Device device() {
    ModelIdentity identity = engine.identity();
    Device device = new Device();
    device.addIdentifier(deviceIdentifier());
    device.setStatus(Device.FHIRDeviceStatus.ACTIVE);
    device.setType(new CodeableConcept().addCoding(
        new org.hl7.fhir.r4.model.Coding(AiVocabulary.AI_DEVICE_TYPE_SYSTEM, AiVocabulary.AI_DEVICE_TYPE,
            "Artificial Intelligence")));
    device.addDeviceName().setName(displayName).setType(Device.DeviceNameType.USERFRIENDLYNAME);
    device.addDeviceName().setName(identity.modelId()).setType(Device.DeviceNameType.MODELNAME);
    device.addVersion().setValue(version);
    device.addNote().setText("ONNX Runtime, " + identity.modelType() + ", variant " + identity.variant()
        + " (medgemma-fhir configuration id '" + id + "')");
    identity.conversionRecord().ifPresent(record -> device.addExtension(AiVocabulary.MODEL_CONVERSION_EXTENSION,
        new Attachment().setContentType("application/json").setTitle("conversion.json")
            .setData(record.getBytes(StandardCharsets.UTF_8))));
    return dev.medgemmafhir.operations.transparency.AiDeviceProfile.apply(device, identity);
  }
}
