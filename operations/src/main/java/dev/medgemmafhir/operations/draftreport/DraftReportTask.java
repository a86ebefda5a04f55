package dev.medgemmafhir.operations.draftreport;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.run.AiProvenance;
import dev.medgemmafhir.operations.run.AiTask;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.Locale;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.Identifier;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;

/** A prepared {@code $draft-report} with its images: how the answer becomes a preliminary DiagnosticReport. */
public final class DraftReportTask implements AiTask {

  static final String LOINC = "http://loinc.org";
  static final String RADIOLOGY_CATEGORY = "LP29684-5";
  static final String V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074";
  static final String IMAGING_STUDY_CODE = "18748-4";

  private final DraftReporter.Plan plan;
  private final java.util.function.Supplier<DraftReporter.Fetched> fetch;
  private DraftReporter.Fetched fetched;

  /** @param fetch downloads the images and builds the request; runs once, on the thread that runs the task */
  DraftReportTask(DraftReporter.Plan plan, java.util.function.Supplier<DraftReporter.Fetched> fetch) {
    this.plan = plan;
    this.fetch = fetch;
  }

  @Override
  public String operation() {
    return "draft-report";
  }

  @Override
  public String target() {
    return plan.target();
  }

  @Override
  public LoadedModel model() {
    return plan.model();
  }

  /** The first call downloads the planned images from the PACS (a job does this after its 202). */
  @Override
  public GenerationRequest request() {
    return fetched().request();
  }

  private synchronized DraftReporter.Fetched fetched() {
    if (fetched == null) {
      fetched = fetch.get();
    }
    return fetched;
  }

  @Override
  public String idempotencyKey() {
    return plan.idempotencyKey();
  }

  /** Choosing the images asks the PACS: an async kick-off answers first. */
  @Override
  public boolean keyAwaitsInputs() {
    return plan.choosing().asksPacs();
  }

  @Override
  public String draftType() {
    return "DiagnosticReport";
  }

  @Override
  public boolean persist() {
    return plan.persist();
  }

  /** The study's earlier unverified AI reports (same patient, still preliminary): cancelled, the new one names them. */
  @Override
  public java.util.Optional<Supersedes> supersedes() {
    ImagingStudy study = plan.context().study();
    var search = ca.uhn.fhir.jpa.searchparam.SearchParameterMap.newSynchronous()
        .add(DiagnosticReport.SP_STATUS, new ca.uhn.fhir.rest.param.TokenParam("preliminary"))
        .add("_security", new ca.uhn.fhir.rest.param.TokenParam(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST));
    if (study.hasSubject() && study.getSubject().hasReference()) {
      search.add(DiagnosticReport.SP_SUBJECT, new ca.uhn.fhir.rest.param.ReferenceParam(
          plainReference(study.getSubject()).getReference()));
    }
    String target = target();
    return java.util.Optional.of(new Supersedes("DiagnosticReport", search,
        old -> ((DiagnosticReport) old).getStatus() == DiagnosticReport.DiagnosticReportStatus.PRELIMINARY
            && ((DiagnosticReport) old).getImagingStudy().stream().anyMatch(r -> target.equals(
                r.getReferenceElement().toUnqualifiedVersionless().getValue())),
        // R4's DiagnosticReport has no 'superseded': an unverified draft that will never be completed is 'cancelled'.
        (old, fresh) -> {
          ((DiagnosticReport) old).setStatus(DiagnosticReport.DiagnosticReportStatus.CANCELLED);
          ((DiagnosticReport) fresh).addExtension(new Extension(AiVocabulary.REPLACES_EXTENSION,
              new Reference("DiagnosticReport/" + old.getIdElement().getIdPart())));
        }));
  }

  /** The prompt with each planned image as {@code <image>}: no pixel is fetched. */
  @Override
  public org.hl7.fhir.r4.model.Parameters preview() {
    var messages = ReportPrompt.render(plan.studyLine(), plan.indication(), plan.images(), ReportPrompt::placeholder);
    GenerationRequest request = new GenerationRequest(messages,
        dev.medgemmafhir.engine.GenerationParams.greedy(plan.maxTokens()));
    var preview = dev.medgemmafhir.operations.run.PromptPreview.of(request,
        plan.model().engine().countPromptTokens(request));
    preview.addParameter("imagesIncluded", new IntegerType(plan.images().size()));
    preview.addParameter("imagesOmitted", new IntegerType(plan.imagesOmitted()));
    preview.addParameter("indicationSource", new CodeType(plan.indicationSource()));
    for (ReportImage image : plan.images()) {
      preview.addParameter("image", new org.hl7.fhir.r4.model.StringType(image.label()));
    }
    return preview;
  }

  @Override
  public Draft complete(GenerationResult generated, Reference device, Reference draftReference) {
    ImagingStudy study = plan.context().study();
    String markdown = generated.text().strip();
    Date now = new Date();

    DiagnosticReport report = new DiagnosticReport();
    report.getMeta().addSecurity(AiTransparency.aiast());
    report.addIdentifier().setSystem(AiVocabulary.DRAFT_IDENTIFIER_SYSTEM).setValue(plan.idempotencyKey());
    report.setStatus(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
    report.addCategory(new CodeableConcept().addCoding(new Coding(LOINC, RADIOLOGY_CATEGORY, "Radiology")));
    report.addCategory(new CodeableConcept().addCoding(new Coding(V2_0074, "RAD", "Radiology")));
    CodeableConcept procedure = study.getProcedureCode().stream().filter(CodeableConcept::hasCoding).findFirst()
        .orElse(null);
    report.setCode(procedure != null ? procedure.copy()
        : new CodeableConcept().addCoding(new Coding(LOINC, IMAGING_STUDY_CODE, "Diagnostic imaging study")));
    if (study.hasSubject()) {
      report.setSubject(plainReference(study.getSubject()));
    }
    if (study.hasEncounter()) {
      report.setEncounter(plainReference(study.getEncounter()));
    }
    if (study.hasStarted()) {
      report.setEffective(study.getStartedElement().copy());
    }
    report.setIssued(now);
    report.addImagingStudy(new Reference(target()));
    // DiagnosticReport.basedOn takes orders (ServiceRequest, CarePlan, ...), not appointments or tasks.
    study.getBasedOn().stream()
        .filter(r -> "ServiceRequest".equals(r.getReferenceElement().getResourceType())
            || "CarePlan".equals(r.getReferenceElement().getResourceType()))
        .forEach(r -> report.addBasedOn(plainReference(r)));
    String impression = markdown.isEmpty() ? "" : Impression.of(markdown);
    if (!impression.isEmpty()) {
      report.setConclusion(impression);
    }
    report.addPresentedForm(new Attachment()
        .setContentType("text/markdown; charset=utf-8")
        .setLanguage("en")
        .setData(markdown.getBytes(StandardCharsets.UTF_8))
        .setTitle("Radiology report (AI draft, " + model().displayName() + "), not yet verified by a clinician")
        .setCreationElement(new DateTimeType(now)));
    report.addExtension(inputSummary(generated));

    Provenance provenance = null;
    if (draftReference != null) {
      provenance = AiProvenance.of(draftReference, device, plan.context().inputs(), now);
      for (ReportImage image : fetched().images()) {
        Reference what = new Reference().setDisplay(image.label());
        if (image instanceof ReportImage.Dicom dicom) {
          what.setIdentifier(new Identifier().setSystem(StudyImages.DICOM_UID_SYSTEM)
              .setValue("urn:oid:" + dicom.sopInstanceUid()));
        } else if (image instanceof ReportImage.Attached file) {
          what.setDisplay(image.label() + ": " + file.mediaType() + ", " + file.bytes().length + " bytes, "
              + file.sha256());
        }
        provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.SOURCE).setWhat(what);
      }
    }
    return new Draft(report, provenance);
  }

  /** The same target without a version (the report points at the order, not at one version of it). */
  private static Reference plainReference(Reference reference) {
    if (!reference.hasReference() || reference.getReferenceElement().isAbsolute()
        || reference.getReference().startsWith("#")) {
      return reference.copy();
    }
    Reference copy = new Reference(reference.getReferenceElement().toUnqualifiedVersionless().getValue());
    if (reference.hasDisplay()) {
      copy.setDisplay(reference.getDisplay());
    }
    return copy;
  }

  private Extension inputSummary(GenerationResult generated) {
    Extension ext = new Extension(AiVocabulary.CONTEXT_EXTENSION);
    ext.addExtension("imagesIncluded", new IntegerType(fetched().images().size()));
    ext.addExtension("imagesOmitted", new IntegerType(plan.imagesOmitted()));
    if (fetched().missing() > 0) {
      ext.addExtension("imagesMissing", new IntegerType(fetched().missing()));
    }
    ext.addExtension("indicationSource", new CodeType(plan.indicationSource()));
    ext.addExtension("promptTokens", new IntegerType(generated.promptTokenIds().length));
    ext.addExtension("generatedTokens", new IntegerType(generated.generatedTokenIds().length));
    ext.addExtension("stopReason", new CodeType(generated.stopReason().name().toLowerCase(Locale.ROOT)));
    return ext;
  }
}
