package dev.medgemmafhir.operations.transparency;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.TokenParam;
import ca.uhn.fhir.rest.server.exceptions.PreconditionFailedException;
import ca.uhn.fhir.rest.server.exceptions.ResourceVersionConflictException;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.util.List;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.Meta;
import org.hl7.fhir.r4.model.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Brings a model's stored Device up to AI Transparency on FHIR when the model loads: a Device
 * written before this server conformed (no AI-Device profile, no model-card link) is rewritten as
 * {@link LoadedModel#device()} describes it now, with the model card created if missing, in one
 * transaction. The write is version-checked ({@code If-Match} on the version read), so it never
 * overwrites a change made in between: on a version conflict the Device is read again and, if it
 * still needs it, upgraded again, up to {@link #ATTEMPTS} times. Written as the server
 * ({@link SystemRequestDetails}): clients cannot write model Devices.
 */
public final class DeviceUpgrade {

  private static final Logger log = LoggerFactory.getLogger(DeviceUpgrade.class);

  /** Reads and writes tried before giving up on a Device others keep changing. */
  public static final int ATTEMPTS = 4;

  /** What {@link #upgrade} found and did. */
  public enum Outcome {
    /** No Device has the model's identifier yet: the first draft will write it in the current form. */
    ABSENT,
    /** The Device already has the profile and the model-card link. */
    CURRENT,
    /** The Device was rewritten in the current form. */
    UPGRADED,
    /** Every attempt met a newer version. */
    GAVE_UP
  }

  private final IFhirSystemDao<Bundle, Meta> systemDao;
  private final DaoRegistry daos;

  public DeviceUpgrade(IFhirSystemDao<Bundle, Meta> systemDao, DaoRegistry daos) {
    this.systemDao = systemDao;
    this.daos = daos;
  }

  /** Whether a stored Device is in the current form: the AI-Device profile and a model-card link. */
  public static boolean conforms(Device device) {
    return device.getMeta().hasProfile(AiVocabulary.AI_DEVICE_PROFILE)
        && device.hasExtension(AiVocabulary.MODEL_CARD_EXTENSION);
  }

  public Outcome upgrade(LoadedModel model) {
    for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
      Device stored = find(model.deviceIdentifier());
      if (stored == null) {
        return Outcome.ABSENT;
      }
      if (conforms(stored)) {
        return Outcome.CURRENT;
      }
      try {
        write(model, stored);
        log.info("Upgraded the Device of model '{}' ({}) to the AI-Device profile with a model card", model.id(),
            stored.getIdElement().toUnqualified().getValue());
        return Outcome.UPGRADED;
      } catch (ResourceVersionConflictException | PreconditionFailedException e) {
        log.info("The Device of model '{}' changed while it was being upgraded (attempt {} of {}); reading it again",
            model.id(), attempt, ATTEMPTS);
      }
    }
    log.warn("Gave up upgrading the Device of model '{}' after {} version conflicts", model.id(), ATTEMPTS);
    return Outcome.GAVE_UP;
  }

  private Device find(Identifier identifier) {
    SearchParameterMap search = SearchParameterMap.newSynchronous()
        .add(Device.SP_IDENTIFIER, new TokenParam(identifier.getSystem(), identifier.getValue()));
    List<IBaseResource> found = daos.getResourceDao("Device").search(search, new SystemRequestDetails()).getAllResources();
    return found.isEmpty() ? null : (Device) found.get(0);
  }

  private void write(LoadedModel model, Device stored) {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    Device current = model.device();
    List<Extension> cards = stored.getExtensionsByUrl(AiVocabulary.MODEL_CARD_EXTENSION);
    if (cards.isEmpty()) {
      current.addExtension(AiVocabulary.MODEL_CARD_EXTENSION, new Reference(TransparencyRecords.addModelCard(tx, model)));
    } else {
      cards.forEach(card -> current.addExtension(card.copy()));
    }
    String id = stored.getIdElement().getIdPart();
    current.setId(id);
    String version = stored.getIdElement().hasVersionIdPart() ? stored.getIdElement().getVersionIdPart()
        : stored.getMeta().getVersionId();
    tx.addEntry().setResource(current).getRequest()
        .setMethod(Bundle.HTTPVerb.PUT).setUrl("Device/" + id)
        .setIfMatch("W/\"" + version + "\"");
    systemDao.transaction(new SystemRequestDetails(), tx);
  }
}
