package dev.medgemmafhir.operations.transparency;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.model.LoadedModel;
import java.util.UUID;
import org.hl7.fhir.r4.model.Base;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;

/**
 * Adds what AI Transparency on FHIR asks for beyond the draft to the transaction that writes it:
 * the model card (once per model, referenced from the Device) and the exact prompt (an
 * AIInputPrompt in the draft's patient compartment), both named by the AI Provenance as
 * {@code derivation} entities. The prompt is left out when prompt storage is off, and when the
 * draft has no patient (a prompt outside any compartment would be readable by any user token).
 */
public final class TransparencyRecords {

  /** Default of {@code medgemma.transparency.store-prompts}. */
  public static final boolean STORE_PROMPTS_DEFAULT = true;

  private final boolean storePrompts;

  public TransparencyRecords(boolean storePrompts) {
    this.storePrompts = storePrompts;
  }

  public boolean storesPrompts() {
    return storePrompts;
  }

  /**
   * @param tx the transaction; its Device entry gets the model-card extension
   * @param draft the draft resource as it will be written
   * @param provenance the draft's AI Provenance (gets the entities)
   */
  public void addTo(Bundle tx, LoadedModel model, Resource draft, Provenance provenance, GenerationRequest request,
      GenerationResult generated, String idempotencyKey) {
    String card = addModelCard(tx, model);
    tx.getEntry().stream().map(Bundle.BundleEntryComponent::getResource).filter(Device.class::isInstance)
        .findFirst().ifPresent(device -> ((Device) device)
            .addExtension(AiVocabulary.MODEL_CARD_EXTENSION, new Reference(card)));
    provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.DERIVATION)
        .setWhat(new Reference(card).setDisplay("model card"));

    Reference subject = reference(draft, "subject");
    if (!storePrompts || request == null || subject == null) {
      return;
    }
    String prompt = "urn:uuid:" + UUID.randomUUID();
    tx.addEntry().setFullUrl(prompt)
        .setResource(PromptRecord.of(request, generated, subject, idempotencyKey, model.displayName()))
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("DocumentReference")
        .setIfNoneExist("identifier=" + AiVocabulary.PROMPT_IDENTIFIER_SYSTEM + "|" + idempotencyKey);
    provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.DERIVATION)
        .setWhat(new Reference(prompt).setDisplay("input prompt"));
  }

  /**
   * Adds the model's card to a transaction, created only if no card with its identifier exists
   * (once per model); returns the entry's full URL, which references the card in either case.
   */
  static String addModelCard(Bundle tx, LoadedModel model) {
    String card = "urn:uuid:" + UUID.randomUUID();
    tx.addEntry().setFullUrl(card).setResource(ModelCard.of(model)).getRequest()
        .setMethod(Bundle.HTTPVerb.POST).setUrl("DocumentReference")
        .setIfNoneExist("identifier=" + AiVocabulary.MODEL_CARD_IDENTIFIER_SYSTEM + "|" + ModelCard.identifierValue(model));
    return card;
  }

  /** The first Reference value of a property, or null (drafts of any type: subject, encounter). */
  private static Reference reference(Base element, String name) {
    var property = element.getNamedProperty(name);
    if (property == null) {
      return null;
    }
    return property.getValues().stream().filter(Reference.class::isInstance).map(Reference.class::cast)
        .filter(Reference::hasReference).findFirst().orElse(null);
  }
}
