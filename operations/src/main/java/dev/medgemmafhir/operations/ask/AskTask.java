package dev.medgemmafhir.operations.ask;

import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.citations.Citations;
import dev.medgemmafhir.operations.context.ClinicalFact;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.prompt.ContextBudget;
import dev.medgemmafhir.operations.run.AiProvenance;
import dev.medgemmafhir.operations.run.AiTask;
import dev.medgemmafhir.operations.run.PromptPreview;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.MarkdownType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.StringType;

/**
 * A prepared {@code $ask}: the fitted prompt, and how the answer becomes a {@code Parameters}
 * resource (answer, citations, input summary), kept, with {@code persist=true}, as a preliminary
 * AI-labelled DocumentReference (LOINC 34109-9 Note) with its Provenance.
 */
public final class AskTask implements AiTask {

  /** LOINC "Note": a stored answer is a clinical note about the patient, not a summary of an episode. */
  static final String NOTE_LOINC = "34109-9";

  /**
   * The record a question is about.
   *
   * @param target what the operation was invoked on ({@code Patient/1}, {@code Encounter/2}); null for [base]
   * @param patient the patient, or null
   * @param encounter the encounter, or null
   * @param header a line about the patient that is not a citable fact, or null
   * @param facts the citable facts; null for a general question (no record)
   * @param inputs versioned references of every resource read
   * @param leftOut records found but left out (entered in error, refuted, AI-written)
   */
  record Record(String target, String patient, String encounter, String header, List<ClinicalFact> facts,
      List<String> inputs, int leftOut) {}

  private final LoadedModel model;
  private final Record record;
  private final String question;
  private final ContextBudget.Fitted fitted;
  private final GenerationRequest request;
  private final String idempotencyKey;
  private final boolean persist;
  /** Built with the stored DocumentReference; what the caller gets. */
  private Parameters answer;

  AskTask(LoadedModel model, Record record, String question, ContextBudget.Fitted fitted, int maxTokens,
      String idempotencyKey, boolean persist) {
    this.model = model;
    this.record = record;
    this.question = question;
    this.fitted = fitted;
    // Answers about a record are written greedily, as the clinical drafts are.
    this.request = new GenerationRequest(fitted.messages(), GenerationParams.greedy(maxTokens));
    this.idempotencyKey = idempotencyKey;
    this.persist = persist;
  }

  @Override
  public String operation() {
    return "ask";
  }

  @Override
  public String target() {
    return record.target() == null ? "[base]" : record.target();
  }

  @Override
  public LoadedModel model() {
    return model;
  }

  @Override
  public GenerationRequest request() {
    return request;
  }

  @Override
  public String idempotencyKey() {
    return idempotencyKey;
  }

  @Override
  public String draftType() {
    return "DocumentReference";
  }

  @Override
  public boolean persist() {
    return persist;
  }

  @Override
  public boolean reusesEarlierDraft() {
    return false;
  }

  @Override
  public Parameters preview() {
    Parameters preview = PromptPreview.of(request, fitted.promptTokens());
    preview.addParameter("factsIncluded", new IntegerType(fitted.included().size()));
    preview.addParameter("factsOmitted", new IntegerType(fitted.omitted()));
    fitted.citations().forEach((key, reference) -> {
      var citation = preview.addParameter().setName("citation");
      citation.addPart().setName("key").setValue(new StringType(key));
      citation.addPart().setName("reference").setValue(new Reference(reference));
    });
    return preview;
  }

  public ContextBudget.Fitted fitted() {
    return fitted;
  }

  @Override
  public Draft complete(GenerationResult generated, Reference device, Reference draftReference) {
    Citations.Resolved cited = Citations.resolve(generated.text(), fitted.citations());
    Map<String, String> texts = new HashMap<>();
    for (int i = 0; i < fitted.included().size(); i++) {
      texts.put("C" + (i + 1), fitted.included().get(i).text());
    }
    answer = new Parameters();
    answer.getMeta().addSecurity(AiTransparency.aiast());
    answer.addParameter().setName("answer").setValue(new MarkdownType(cited.text()));
    for (String key : cited.citedKeys()) {
      var citation = answer.addParameter().setName("citation");
      citation.addPart().setName("key").setValue(new StringType(key));
      citation.addPart().setName("reference").setValue(new Reference(fitted.citations().get(key)));
      citation.addPart().setName("text").setValue(new StringType(texts.get(key)));
    }
    var summary = answer.addParameter().setName("ai-input-summary");
    summary.addPart().setName("factsIncluded").setValue(new IntegerType(fitted.included().size()));
    summary.addPart().setName("factsOmitted").setValue(new IntegerType(fitted.omitted()));
    summary.addPart().setName("factsLeftOut").setValue(new IntegerType(record.leftOut()));
    summary.addPart().setName("unknownCitations").setValue(new IntegerType(cited.unknownKeys()));
    summary.addPart().setName("promptTokens").setValue(new IntegerType(generated.promptTokenIds().length));
    summary.addPart().setName("generatedTokens").setValue(new IntegerType(generated.generatedTokenIds().length));
    summary.addPart().setName("stopReason").setValue(new CodeType(generated.stopReason().name().toLowerCase(Locale.ROOT)));
    summary.addPart().setName("model").setValue(new StringType(model.id()));
    if (!persist) {
      return new Draft(answer, null);
    }

    Date now = new Date();
    DocumentReference doc = new DocumentReference();
    doc.getMeta().addSecurity(AiTransparency.aiast());
    doc.addIdentifier().setSystem(AiVocabulary.DRAFT_IDENTIFIER_SYSTEM).setValue(idempotencyKey);
    doc.setStatus(Enumerations.DocumentReferenceStatus.CURRENT);
    doc.setDocStatus(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    doc.setType(new CodeableConcept().addCoding(new Coding("http://loinc.org", NOTE_LOINC, "Note")));
    doc.addCategory(new CodeableConcept().addCoding(new Coding(
        "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note")));
    if (record.patient() != null) {
      doc.setSubject(new Reference(record.patient()));
    }
    doc.setDate(now);
    doc.addAuthor(device.copy());
    doc.setDescription("AI-generated answer to a question (" + model.displayName() + "), not yet verified by a clinician");
    if (record.encounter() != null) {
      doc.getContext().addEncounter(new Reference(record.encounter()));
    }
    cited.cited().forEach(ref -> doc.getContext().addRelated(new Reference(ref)));
    String markdown = "**Question:** " + question + "\n\n" + Citations.withSources(cited, fitted.citations(), texts);
    doc.addContent().setAttachment(new Attachment()
        .setContentType("text/markdown; charset=utf-8")
        .setData(markdown.getBytes(StandardCharsets.UTF_8))
        .setTitle("Answer to a question (AI draft)")
        .setCreationElement(new DateTimeType(now)));
    Extension ext = new Extension(AiVocabulary.CONTEXT_EXTENSION);
    summary.getPart().forEach(p -> ext.addExtension(p.getName(), p.getValue().copy()));
    doc.addExtension(ext);
    List<String> seen = new java.util.ArrayList<>();
    if (record.header() != null) {
      seen.add(record.inputs().get(0)); // the patient, whose age and sex head the facts
    }
    fitted.included().forEach(f -> seen.add(f.reference()));
    Provenance provenance = AiProvenance.of(draftReference, device, seen.stream().distinct().toList(), now);
    return new Draft(doc, provenance);
  }

  /** The answer, with the stored DocumentReference named when it was kept. */
  @Override
  public Resource reply(Resource draft) {
    if (answer == null) {
      return draft;
    }
    if (persist && draft.getIdElement().hasIdPart()) {
      answer.addParameter().setName(AiVocabulary.ASK_DOCUMENT_PARAMETER).setValue(new Reference(
          draft.fhirType() + "/" + draft.getIdElement().getIdPart() + "/_history/" + draft.getIdElement().getVersionIdPart()));
    }
    return answer;
  }
}
