package dev.medgemmafhir.operations.transparency;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.replay.RecordedRequest;
import dev.medgemmafhir.operations.AiTransparency;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Reference;

/**
 * The exact prompt a draft was written from, as an AIInputPrompt DocumentReference in the draft's
 * patient compartment: the messages as Markdown for a reader, and the exact request (every message,
 * every sampling parameter) as JSON for {@code medgemma-cli replay}. It is clinical text: it has the
 * draft's subject, so a token for another patient cannot read it.
 */
public final class PromptRecord {

  private PromptRecord() {}

  /**
   * @param generated what the model answered (its token ids let a replay compare exactly); may be null
   * @param subject the draft's subject (the Patient)
   * @param idempotencyKey the draft's key: one prompt per draft
   */
  public static DocumentReference of(GenerationRequest request, GenerationResult generated, Reference subject, String idempotencyKey, String modelDisplay) {
    DocumentReference prompt = new DocumentReference();
    prompt.getMeta().addProfile(AiVocabulary.AI_INPUT_PROMPT_PROFILE);
    prompt.getMeta().addSecurity(AiTransparency.aiast());
    prompt.addIdentifier().setSystem(AiVocabulary.PROMPT_IDENTIFIER_SYSTEM).setValue(idempotencyKey);
    prompt.setStatus(Enumerations.DocumentReferenceStatus.CURRENT);
    // AIInputPrompt closes type.coding: only the AIInputPrompt code.
    prompt.setType(new CodeableConcept().addCoding(AiTransparency.aiInputs(AiVocabulary.AI_INPUT_PROMPT)));
    prompt.setSubject(subject.copy());
    prompt.setDate(new Date());
    prompt.setDescription("Exact input given to " + modelDisplay + " for an AI draft");
    // No context.encounter: searches for an encounter's documents find its drafts, not their
    // inputs; the draft's Provenance leads to the prompt.
    prompt.addContent().setAttachment(new Attachment().setContentType("text/markdown")
        .setTitle("Prompt (messages)")
        .setData(RecordedRequest.toMarkdown(request).getBytes(StandardCharsets.UTF_8)));
    prompt.addContent().setAttachment(new Attachment().setContentType(RecordedRequest.CONTENT_TYPE)
        .setTitle("Prompt, generation parameters and generated tokens (" + RecordedRequest.FORMAT + ")")
        .setData(RecordedRequest.toJson(request, generated).getBytes(StandardCharsets.UTF_8)));
    return prompt;
  }
}
