package dev.medgemmafhir.operations.summarize;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.citations.Citations;
import dev.medgemmafhir.operations.context.EncounterContext;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.prompt.ContextBudget;
import dev.medgemmafhir.operations.run.AiProvenance;
import dev.medgemmafhir.operations.run.AiTask;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.List;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;

/** A prepared {@code $summarize}: the fitted prompt, and how the answer becomes a DocumentReference. */
public final class SummarizeTask implements AiTask {

  private final LoadedModel model;
  private final EncounterContext context;
  private final SummaryStyle style;
  private final ContextBudget.Fitted fitted;
  private final GenerationRequest request;
  private final String idempotencyKey;
  private final boolean persist;

  SummarizeTask(LoadedModel model, EncounterContext context, SummaryStyle style, ContextBudget.Fitted fitted,
      int maxTokens, String idempotencyKey, boolean persist) {
    this.model = model;
    this.context = context;
    this.style = style;
    this.fitted = fitted;
    // Clinical drafts are written greedily, as Google's own MedGemma notebooks do.
    this.request = new GenerationRequest(fitted.messages(), GenerationParams.greedy(maxTokens));
    this.idempotencyKey = idempotencyKey;
    this.persist = persist;
  }

  @Override
  public String operation() {
    return "summarize";
  }

  @Override
  public String target() {
    return "Encounter/" + context.encounter().getIdElement().getIdPart();
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

  /** The unverified AI summaries of the same kind for this encounter, still current: marked superseded. */
  @Override
  public java.util.Optional<Supersedes> supersedes() {
    var search = ca.uhn.fhir.jpa.searchparam.SearchParameterMap.newSynchronous()
        .add(DocumentReference.SP_ENCOUNTER, new ca.uhn.fhir.rest.param.ReferenceParam(target()))
        .add(DocumentReference.SP_TYPE, new ca.uhn.fhir.rest.param.TokenParam("http://loinc.org", style.loinc()))
        .add(DocumentReference.SP_STATUS, new ca.uhn.fhir.rest.param.TokenParam("current"))
        .add("_security", new ca.uhn.fhir.rest.param.TokenParam(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST));
    return java.util.Optional.of(new Supersedes("DocumentReference", search,
        old -> ((DocumentReference) old).getDocStatus() == DocumentReference.ReferredDocumentStatus.PRELIMINARY,
        (old, fresh) -> {
          ((DocumentReference) old).setStatus(Enumerations.DocumentReferenceStatus.SUPERSEDED);
          ((DocumentReference) fresh).addRelatesTo().setCode(DocumentReference.DocumentRelationshipType.REPLACES)
              .setTarget(new Reference("DocumentReference/" + old.getIdElement().getIdPart()));
        }));
  }

  /**
   * What the model would be given, without running it: each message's text, the prompt's length
   * and what was left out ({@code dryRun}).
   */
  @Override
  public org.hl7.fhir.r4.model.Parameters preview() {
    org.hl7.fhir.r4.model.Parameters preview = dev.medgemmafhir.operations.run.PromptPreview.of(request,
        fitted.promptTokens());
    preview.addParameter("factsIncluded", new IntegerType(fitted.included().size()));
    preview.addParameter("factsOmitted", new IntegerType(fitted.omitted()));
    fitted.citations().forEach((key, reference) -> {
      var citation = preview.addParameter().setName("citation");
      citation.addPart().setName("key").setValue(new org.hl7.fhir.r4.model.StringType(key));
      citation.addPart().setName("reference").setValue(new Reference(reference));
    });
    return preview;
  }

  public ContextBudget.Fitted fitted() {
    return fitted;
  }

  /** The versioned references the model saw: exactly the facts in the prompt (the encounter and patient when they fit). */
  List<String> inputsSeen() {
    return fitted.included().stream().map(f -> f.reference()).distinct().toList();
  }

  @Override
  public Draft complete(GenerationResult generated, Reference device, Reference draftReference) {
    Citations.Resolved cited = Citations.resolve(generated.text(), fitted.citations());
    // Citation keys were given out in prompt order: C1 is the first included fact.
    java.util.Map<String, String> texts = new java.util.HashMap<>();
    for (int i = 0; i < fitted.included().size(); i++) {
      texts.put("C" + (i + 1), fitted.included().get(i).text());
    }
    String markdown = Citations.withSources(cited, fitted.citations(), texts);
    Date now = new Date();

    DocumentReference doc = new DocumentReference();
    doc.getMeta().addSecurity(AiTransparency.aiast());
    doc.addIdentifier().setSystem(AiVocabulary.DRAFT_IDENTIFIER_SYSTEM).setValue(idempotencyKey);
    doc.setStatus(Enumerations.DocumentReferenceStatus.CURRENT);
    doc.setDocStatus(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    doc.setType(new CodeableConcept().addCoding(new Coding("http://loinc.org", style.loinc(), style.loincDisplay())));
    doc.addCategory(new CodeableConcept().addCoding(new Coding(
        "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category", "clinical-note", "Clinical Note")));
    if (context.patient() != null) {
      doc.setSubject(new Reference("Patient/" + context.patient().getIdElement().getIdPart()));
    }
    doc.setDate(now);
    doc.addAuthor(device.copy());
    doc.setDescription("AI-generated draft (" + model.displayName() + "), not yet verified by a clinician");
    DocumentReference.DocumentReferenceContextComponent ctx = doc.getContext();
    ctx.addEncounter(new Reference(target()));
    if (context.encounter().hasPeriod()) {
      ctx.setPeriod(context.encounter().getPeriod().copy());
    }
    cited.cited().forEach(ref -> ctx.addRelated(new Reference(ref)));
    doc.addContent().setAttachment(new Attachment()
        .setContentType("text/markdown; charset=utf-8")
        .setData(markdown.getBytes(StandardCharsets.UTF_8))
        .setTitle(style.loincDisplay() + " (AI draft)")
        .setCreationElement(new org.hl7.fhir.r4.model.DateTimeType(now)));
    doc.addExtension(inputSummary(cited, generated));

    Provenance provenance = draftReference == null ? null
        : AiProvenance.of(draftReference, device, inputsSeen(), now);
    return new Draft(doc, provenance);
  }

  private Extension inputSummary(Citations.Resolved cited, GenerationResult generated) {
    Extension ext = new Extension(AiVocabulary.CONTEXT_EXTENSION);
    ext.addExtension("factsIncluded", new IntegerType(fitted.included().size()));
    ext.addExtension("factsOmitted", new IntegerType(fitted.omitted()));
    fitted.omittedByType().forEach((type, count) -> {
      Extension omitted = new Extension("omitted");
      omitted.addExtension("resourceType", new CodeType(type));
      omitted.addExtension("count", new IntegerType(count));
      ext.addExtension(omitted);
    });
    ext.addExtension("unknownCitations", new IntegerType(cited.unknownKeys()));
    ext.addExtension("promptTokens", new IntegerType(generated.promptTokenIds().length));
    ext.addExtension("generatedTokens", new IntegerType(generated.generatedTokenIds().length));
    ext.addExtension("stopReason", new CodeType(generated.stopReason().name().toLowerCase(java.util.Locale.ROOT)));
    return ext;
  }
}
