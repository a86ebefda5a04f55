package dev.medgemmafhir.interceptors.review;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import dev.medgemmafhir.interceptors.labels.AiLabels;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.util.Optional;
import java.util.function.Function;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;

/**
 * The records of how an AI draft was made are the server's evidence, not drafts: an input prompt
 * or a model card (AI Transparency on FHIR's AIinputsCS document types) that this server wrote
 * (identified in its {@code urn:medgemma-fhir:} systems) is written only by the server. A client's create, update, patch or delete of one is a 422, and
 * so is {@code $verify} on one (there is nothing for a clinician to accept in a prompt). Reads
 * follow the ordinary rules: a prompt has the draft's subject, so SMART patient scopes confine it to
 * that patient's compartment.
 *
 * <p>The same holds for the server's model Devices (identifier system
 * {@code urn:medgemma-fhir:model}: they name the exact weights behind every draft) and for what
 * only the server may say with them: a client's Provenance whose agent is one of those Devices
 * would claim that this server's model wrote something it did not, so it is a 422. A client may
 * still record AI Provenance for its own AI devices. Register it with the JPA server's global
 * interceptor service.
 */
@Interceptor
public class AiRecordGuard {

  private final Function<IdType, Optional<IBaseResource>> devices;

  /** @param devices reads a Device by id (as the system, outside any token's compartment); empty when unknown */
  public AiRecordGuard(Function<IdType, Optional<IBaseResource>> devices) {
    this.devices = devices;
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
  public void beforeCreate(IBaseResource created, RequestDetails request) {
    check(created, request, "created");
    if (created instanceof Provenance provenance && clientWrite(request)) {
      refuseModelAuthorship(provenance);
    }
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void beforeUpdate(IBaseResource previous, IBaseResource updated, RequestDetails request) {
    check(previous, request, "changed");
    check(updated, request, "changed");
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_DELETED)
  public void beforeDelete(IBaseResource deleted, RequestDetails request) {
    check(deleted, request, "deleted");
  }

  /** A write a client asked for (REST, a bundle entry, {@code $verify}), not one the server makes itself. */
  private static boolean clientWrite(RequestDetails request) {
    return request != null && !(request instanceof SystemRequestDetails);
  }

  static boolean isModelDevice(IBaseResource resource) {
    return resource instanceof Device device && device.getIdentifier().stream()
        .anyMatch(i -> AiVocabulary.DEVICE_IDENTIFIER_SYSTEM.equals(i.getSystem()));
  }

  /** Whether a reference points at one of the server's model Devices (by identifier, or by id once read). */
  private boolean namesModelDevice(Reference who) {
    if (who == null || who.isEmpty()) {
      return false;
    }
    if (who.hasIdentifier() && AiVocabulary.DEVICE_IDENTIFIER_SYSTEM.equals(who.getIdentifier().getSystem())) {
      return true;
    }
    if (!who.hasReference()) {
      return false;
    }
    IdType id = new IdType(who.getReference());
    if (!"Device".equals(id.getResourceType()) || !id.hasIdPart() || id.isAbsolute() || id.isLocal()) {
      return false;
    }
    return devices.apply(id.toUnqualifiedVersionless()).map(AiRecordGuard::isModelDevice).orElse(false);
  }

  private void refuseModelAuthorship(Provenance provenance) {
    for (Provenance.ProvenanceAgentComponent agent : provenance.getAgent()) {
      if (namesModelDevice(agent.getWho()) || namesModelDevice(agent.getOnBehalfOf())) {
        throw new UnprocessableEntityException("Only this server records what its models wrote: a Provenance "
            + "whose agent is this server's model Device (" + agent.getWho().getReference() + ") is written with "
            + "the draft by the AI operation, not by a client");
      }
    }
  }

  /** Prompts, model cards and model Devices: written by the server only. */
  private static void check(IBaseResource resource, RequestDetails request, String what) {
    if (isModelDevice(resource) && clientWrite(request)) {
      throw new UnprocessableEntityException("A model Device (" + AiLabels.reference(resource) + ", identifier system "
          + AiVocabulary.DEVICE_IDENTIFIER_SYSTEM + ") names the weights behind this server's drafts and is written "
          + "only by this server; it cannot be " + what + " by a client");
    }
    if (!isAiRecord(resource)) {
      return;
    }
    if (request != null && request.getUserData().get(ReviewGateInterceptor.VERIFYING) != null) {
      throw new UnprocessableEntityException(AiLabels.reference(resource) + " records how an AI draft was made "
          + "(an input prompt or a model card); it is not a draft and cannot be verified: verify the draft itself");
    }
    if (clientWrite(request)) {
      throw new UnprocessableEntityException("An AI input prompt or model card (" + AiLabels.reference(resource)
          + ") is written only by this server, with the draft it explains; it cannot be " + what + " by a client");
    }
  }

  /**
   * Prefix of every identifier system this server writes (AiVocabulary: prompts, model cards,
   * drafts, model Devices): an AIinputsCS document carrying any of them claims to be the server's.
   */
  static final String SERVER_IDENTIFIER_PREFIX = "urn:medgemma-fhir:";

  /** A DocumentReference of an AIinputsCS type (input prompt, model card) with one of this server's identifiers. */
  static boolean isAiRecord(IBaseResource resource) {
    return resource instanceof DocumentReference document
        && document.getType().getCoding().stream().anyMatch(c -> AiVocabulary.AI_INPUTS_SYSTEM.equals(c.getSystem()))
        && document.getIdentifier().stream().anyMatch(i -> i.hasSystem()
            && i.getSystem().startsWith(SERVER_IDENTIFIER_PREFIX));
  }
}
