package dev.medgemmafhir.operations.transparency;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.model.LoadedModel;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;

/**
 * The model card of a loaded model as an AIModelCard DocumentReference (Markdown): what the model
 * is for, under which terms it may be used, what it is known to get wrong, and the conversion
 * record of the official weights. Written once per model (conditional create on its identifier)
 * and referenced from the model's Device.
 */
public final class ModelCard {

  static final String INTENDED_USE = """
      Drafting clinical documents for a clinician to review: encounter summaries ($summarize), \
      radiology report drafts from a study's images ($draft-report) and answers about a patient's \
      record. Every output is stored as a preliminary draft labelled AIAST, with a Provenance that \
      names its inputs; only a clinician's review ($verify) makes it final. Not for autonomous \
      diagnosis, triage or treatment decisions, and not for patients without a clinician.""";

  static final String LIMITATIONS = """
      - The model can state facts that are not in the record (hallucination) or leave out important \
      ones; a citation does not prove the sentence (check each against its source).
      - It sees only the facts that fit its context window, chosen by the server; omitted facts are \
      counted on each draft (ai-input-summary extension).
      - Quantized ONNX weights can differ slightly from the original model's outputs.
      - Not evaluated on this site's patients until `medgemma-cli eval` has been run here; quality \
      may differ between patient groups (sex, age, race and ethnicity), see the eval report.
      - Trained mainly on English text; other languages are unsupported.""";

  private ModelCard() {}

  /** Google's MedGemma weights are released under the Health AI Developer Foundations terms. */
  static String licence(String modelId) {
    if (modelId.toLowerCase(java.util.Locale.ROOT).contains("medgemma")) {
      return "Health AI Developer Foundations Terms of Use "
          + "(https://developers.google.com/health-ai-developer-foundations/terms), which the operator "
          + "accepted to download the weights. The use described above must stay within those terms.";
    }
    return "The licence of the model's source repository (" + modelId + "); the operator is responsible "
        + "for its terms.";
  }

  /** The card's identifier value: the Device's, so each exact model has one card. */
  public static String identifierValue(LoadedModel model) {
    return model.deviceIdentifier().getValue();
  }

  public static DocumentReference of(LoadedModel model) {
    ModelIdentity identity = model.engine().identity();
    DocumentReference card = new DocumentReference();
    card.getMeta().addProfile(AiVocabulary.AI_MODEL_CARD_PROFILE);
    card.addIdentifier().setSystem(AiVocabulary.MODEL_CARD_IDENTIFIER_SYSTEM).setValue(identifierValue(model));
    card.setStatus(Enumerations.DocumentReferenceStatus.CURRENT);
    card.setType(new CodeableConcept().addCoding(AiTransparency.aiInputs(AiVocabulary.AI_MODEL_CARD)));
    card.addCategory(new CodeableConcept().addCoding(AiTransparency.aiInputs(AiVocabulary.AI_MODEL_CARD_MARKDOWN)));
    card.setDescription("Model card of " + model.displayName());
    // AIModelCard fixes the Markdown slice's contentType exactly: no charset parameter.
    card.addContent().setAttachment(new Attachment().setContentType("text/markdown")
        .setTitle("Model card: " + model.displayName())
        .setData(markdown(model, identity).getBytes(StandardCharsets.UTF_8)));
    return card;
  }

  static String markdown(LoadedModel model, ModelIdentity identity) {
    StringBuilder md = new StringBuilder();
    md.append("# Model card: ").append(model.displayName()).append("\n\n");
    md.append("## Model\n\n");
    md.append("- Model: ").append(identity.modelId()).append(" (").append(identity.modelType()).append(")\n");
    md.append("- Variant: ").append(identity.variant()).append('\n');
    identity.revision().ifPresent(r -> md.append("- Revision: ").append(r).append('\n'));
    md.append("- Weights digest (ONNX files this server runs): ").append(identity.digest()).append('\n');
    md.append("- Runtime: ONNX Runtime, medgemma-fhir model id `").append(model.id()).append("`\n\n");
    md.append("## Intended use\n\n").append(INTENDED_USE).append("\n\n");
    md.append("## Licence terms\n\n").append(licence(identity.modelId())).append("\n\n");
    md.append("## Known limitations\n\n").append(LIMITATIONS).append("\n\n");
    md.append("## Conversion record\n\n");
    identity.conversionRecord().ifPresentOrElse(
        record -> md.append("Converted by this project from the official checkpoint; `conversion.json`:\n\n```json\n")
            .append(record.strip()).append("\n```\n"),
        () -> md.append("None: the model directory was not converted by medgemma-fhir (no `conversion.json`).\n"));
    return md.toString();
  }
}
