package dev.medgemmafhir.operations.draftreport;

import ca.uhn.fhir.model.api.annotation.Description;
import ca.uhn.fhir.rest.annotation.IdParam;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import dev.medgemmafhir.operations.run.AiOperationFlow;
import java.util.List;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.StringType;

/**
 * {@code POST [base]/ImagingStudy/{id}/$draft-report}: parses, then hands over. Which images are
 * used is the {@link DraftReporter}'s business; the rest (dry run, earlier draft, sync or async,
 * writing) the {@link AiOperationFlow}'s.
 */
public final class DraftReportOperation {

  private final DraftReporter reporter;
  private final AiOperationFlow flow;

  public DraftReportOperation(DraftReporter reporter, AiOperationFlow flow) {
    this.reporter = reporter;
    this.flow = flow;
  }

  @Operation(name = "$draft-report", type = ImagingStudy.class, idempotent = false,
      returnParameters = @OperationParam(name = "return", type = DiagnosticReport.class, min = 1, max = 1))
  @Description(shortDefinition = "AI draft radiology report of an imaging study (MedGemma, runs locally)",
      value = "Takes a bounded number of images of the study from its DICOMweb Endpoint (WADO-RS 'rendered', the"
          + " middle of each series first) or the attached 'image's, asks the configured MedGemma image-text model"
          + " for a report with Findings and Impression, and writes it as a preliminary DiagnosticReport labelled"
          + " AIAST (impression in 'conclusion', the full draft as Markdown in 'presentedForm') together with an AI"
          + " Provenance listing the study, its orders, the patient and every image used, in one transaction. A retry"
          + " over unchanged inputs returns the existing draft; a newer draft of the same study marks the earlier"
          + " unverified one cancelled. With 'Prefer: respond-async' it answers 202 and a"
          + " Content-Location to poll. Errors: 400 bad parameter or a model without images, 404 unknown study,"
          + " 422 no image to report on, 429 queue full, 502 the PACS failed, 503 model not loaded."
          + " Requires the scopes ImagingStudy.r and DiagnosticReport.c.")
  public IBaseResource draftReport(
      @IdParam IdType studyId,
      @Description(value = "true (default): write the report and its Provenance; false: return the report unsaved"
          + " and write nothing")
      @OperationParam(name = "persist", min = 0, max = 1, typeName = "boolean") BooleanType persist,
      @Description(value = "Most tokens the model may write; capped by medgemma.operations.draft-report.max-tokens")
      @OperationParam(name = "maxTokens", min = 0, max = 1, typeName = "integer") IntegerType maxTokens,
      @Description(value = "A configured image-text model id; default: medgemma.operations.draft-report.model")
      @OperationParam(name = "model", min = 0, max = 1, typeName = "string") StringType model,
      @Description(value = "The clinical question; default: built from the study's reasonCode/reasonReference and its"
          + " orders' (ServiceRequest) reason, code and notes")
      @OperationParam(name = "indication", min = 0, max = 1, typeName = "string") StringType indication,
      @Description(value = "Images to report on instead of the study's PACS images: inline 'data' of a PNG or JPEG"
          + " file (contentType image/png or image/jpeg), for non-DICOM workflows; 'url' is not fetched")
      @OperationParam(name = "image", min = 0, max = OperationParam.MAX_UNLIMITED, typeName = "Attachment")
      List<Attachment> images,
      @Description(value = "Most images the model gets; default medgemma.operations.draft-report.default-max-images,"
          + " capped by medgemma.operations.draft-report.max-images and by what fits in the model's context")
      @OperationParam(name = "maxImages", min = 0, max = 1, typeName = "integer") IntegerType maxImages,
      @Description(value = "true: fetch no image, run nothing and write nothing; answer a Parameters resource with the"
          + " exact messages the model would get (each image as <image>), promptTokens, and each chosen image")
      @OperationParam(name = "dryRun", min = 0, max = 1, typeName = "boolean") BooleanType dryRun,
      RequestDetails request) {
    return flow.run(reporter.task(reporter.plan(studyId,
        persist == null ? null : persist.getValue(),
        maxTokens == null ? null : maxTokens.getValue(),
        model == null ? null : model.getValue(),
        indication == null ? null : indication.getValue(),
        images,
        maxImages == null ? null : maxImages.getValue(),
        request)), dryRun != null && Boolean.TRUE.equals(dryRun.getValue()), request);
  }
}
