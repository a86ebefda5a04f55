package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.operations.transparency.DeviceUpgrade;
import dev.medgemmafhir.server.operations.ScriptedEngine;
import dev.medgemmafhir.server.security.FhirHttp;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.net.http.HttpResponse;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Meta;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/**
 * A model Device written before this server conformed to AI Transparency on FHIR (no AI-Device
 * profile, no model-card link) is brought up to date when its model loads, with a version-checked
 * update that reads again and retries when someone else changed the Device in between.
 */
class DeviceUpgradeTest extends TransparencyServer {

  @Autowired ModelCatalog catalog;
  @Autowired DaoRegistry daos;
  @Autowired IFhirSystemDao<Bundle, Meta> systemDao;
  @Autowired DeviceUpgrade deviceUpgrade;

  static ScriptedEngine engine() {
    return ScriptedEngine.textOnly("legacy-" + UUID.randomUUID(), request -> "ok");
  }

  static InferenceQueue queue(String id) {
    return new InferenceQueue(id, 1, 1, 1, new SimpleMeterRegistry());
  }

  /** The Device as this server wrote it before AIDevice: the identifier, a display on the type, no profile, no card. */
  IdType createOldForm(LoadedModel model) {
    Device device = new Device();
    device.addIdentifier(model.deviceIdentifier());
    device.setStatus(Device.FHIRDeviceStatus.ACTIVE);
    device.getType().addCoding(new Coding(AiVocabulary.AI_DEVICE_TYPE_SYSTEM, AiVocabulary.AI_DEVICE_TYPE,
        "Artificial Intelligence"));
    device.addDeviceName().setName(model.displayName()).setType(Device.DeviceNameType.USERFRIENDLYNAME);
    device.addVersion().setValue("old");
    return new IdType(daos.getResourceDao("Device").create(device, new SystemRequestDetails()).getId().toUnqualified().getValue());
  }

  Device read(IdType id) {
    HttpResponse<String> response = fhir.get(id.toUnqualifiedVersionless().getValue(), admin);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return FhirHttp.parse(response, Device.class);
  }

  @Test
  void aDeviceWrittenBeforeConformanceIsUpgradedWhenItsModelLoads() {
    ScriptedEngine engine = engine();
    String id = "legacy-" + UUID.randomUUID().toString().substring(0, 8);
    LoadedModel model = new LoadedModel(id, "Legacy model", engine, queue(id));
    IdType created = createOldForm(model);
    Device before = read(created);
    assertThat(DeviceUpgrade.conforms(before)).isFalse();
    assertThat(AiTransparencyRules.aiDevice(before)).as("the old form breaks the IG's rules").isNotEmpty();

    catalog.put(id, "Legacy model", engine, queue(id));
    try {
      Device after = read(created);
      assertThat(after.getMeta().getVersionId()).isEqualTo("2");
      assertThat(after.getIdentifierFirstRep().getValue()).isEqualTo(model.deviceIdentifier().getValue());
      assertThat(after.getMeta().getProfile()).extracting(p -> p.getValue()).contains(AiVocabulary.AI_DEVICE_PROFILE);
      assertThat(AiTransparencyRules.aiDevice(after)).isEmpty();
      String card = ((Reference) after.getExtensionByUrl(AiVocabulary.MODEL_CARD_EXTENSION).getValue()).getReference();
      HttpResponse<String> cardResponse = fhir.get(new IdType(card).toUnqualifiedVersionless().getValue(), admin);
      assertThat(cardResponse.statusCode()).as(cardResponse.body()).isEqualTo(200);
      assertThat(AiTransparencyRules.aiModelCard(FhirHttp.parse(cardResponse, DocumentReference.class))).isEmpty();

      // Loading again finds it current and writes nothing.
      assertThat(deviceUpgrade.upgrade(model)).isEqualTo(DeviceUpgrade.Outcome.CURRENT);
      assertThat(read(created).getMeta().getVersionId()).isEqualTo("2");
    } finally {
      catalog.remove(id);
    }
  }

  @Test
  void aModelWithoutAStoredDeviceIsLeftToItsFirstDraft() {
    ScriptedEngine engine = engine();
    LoadedModel model = new LoadedModel("absent", "Absent", engine, queue("absent"));
    assertThat(deviceUpgrade.upgrade(model)).isEqualTo(DeviceUpgrade.Outcome.ABSENT);
    Bundle found = FhirHttp.parse(fhir.get("Device?identifier=" + AiVocabulary.DEVICE_IDENTIFIER_SYSTEM + "%7C"
        + model.deviceIdentifier().getValue(), admin), Bundle.class);
    assertThat(found.getEntry()).isEmpty();
  }

  /** A system DAO that lets another writer change the Device just before each of the first {@code times} transactions. */
  @SuppressWarnings("unchecked")
  IFhirSystemDao<Bundle, Meta> racing(IdType device, int times, AtomicInteger transactions) {
    return (IFhirSystemDao<Bundle, Meta>) Proxy.newProxyInstance(getClass().getClassLoader(),
        new Class<?>[] {IFhirSystemDao.class}, (proxy, method, args) -> {
          if ("transaction".equals(method.getName()) && transactions.incrementAndGet() <= times) {
            Device other = (Device) daos.getResourceDao("Device").read(device.toVersionless(), new SystemRequestDetails());
            other.getNote().clear();
            other.addNote().setText("changed by another writer, " + transactions.get());
            daos.getResourceDao("Device").update(other, new SystemRequestDetails());
          }
          try {
            return method.invoke(systemDao, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }

  @Test
  void aChangeInBetweenIsReadAgainAndTheUpgradeRetried() {
    LoadedModel model = new LoadedModel("racing", "Racing model", engine(), queue("racing"));
    IdType created = createOldForm(model);
    AtomicInteger transactions = new AtomicInteger();
    DeviceUpgrade upgrade = new DeviceUpgrade(racing(created, 2, transactions), daos);

    assertThat(upgrade.upgrade(model)).isEqualTo(DeviceUpgrade.Outcome.UPGRADED);
    assertThat(transactions.get()).as("two conflicts, then the write").isEqualTo(3);
    Device after = read(created);
    // Version 1, two changes by the other writer (2, 3), then the upgrade written over version 3.
    assertThat(after.getMeta().getVersionId()).isEqualTo("4");
    assertThat(DeviceUpgrade.conforms(after)).isTrue();
    assertThat(AiTransparencyRules.aiDevice(after)).isEmpty();
  }

  @Test
  void aDeviceThatKeepsChangingIsLeftAsItIsAfterTheLastAttempt() {
    LoadedModel model = new LoadedModel("busy", "Busy model", engine(), queue("busy"));
    IdType created = createOldForm(model);
    AtomicInteger transactions = new AtomicInteger();
    DeviceUpgrade upgrade = new DeviceUpgrade(racing(created, Integer.MAX_VALUE, transactions), daos);

    assertThat(upgrade.upgrade(model)).isEqualTo(DeviceUpgrade.Outcome.GAVE_UP);
    assertThat(transactions.get()).isEqualTo(DeviceUpgrade.ATTEMPTS);
    Device after = read(created);
    assertThat(after.getMeta().getVersionId()).isEqualTo(Integer.toString(1 + DeviceUpgrade.ATTEMPTS));
    assertThat(DeviceUpgrade.conforms(after)).isFalse();
    // Nothing half-written: no model card was created for this model by the failed transactions.
    Bundle cards = FhirHttp.parse(fhir.get("DocumentReference?identifier=" + AiVocabulary.MODEL_CARD_IDENTIFIER_SYSTEM
        + "%7C" + dev.medgemmafhir.operations.transparency.ModelCard.identifierValue(model), admin), Bundle.class);
    assertThat(cards.getEntry()).isEmpty();
  }
}
