package dev.medgemmafhir.operations.draftreport;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import java.util.List;
import org.hl7.fhir.r4.model.ImagingStudy;

/**
 * Which of a study's images {@code $draft-report} gives the model, most wanted first. The default is
 * {@link StudyImages} (the middle of each series first, the series taking turns); a deployment replaces
 * the Spring bean to choose otherwise (e.g. by series description, or the key images of a KO object).
 * Only the choice: the pixels are fetched later, when the task runs.
 */
public interface ImageChoice {

  /**
   * @param perSeries at most this many images from one series
   * @param limit at most this many images in all
   * @throws ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException the study has no image to report on
   */
  Choice choose(ImagingStudy study, int perSeries, int limit, RequestDetails request);

  /**
   * Whether {@link #choose} has to ask the PACS (e.g. QIDO-RS for instances the study does not list).
   * An asynchronous kick-off then leaves the choice to the job, so that its 202 never waits for the
   * PACS. Checks what it can without the PACS (a study with no way to reach an image is a 422 here).
   * The default, false, keeps a strategy that reads only the database choosing at kick-off.
   */
  default boolean asksPacs(ImagingStudy study, RequestDetails request) {
    return false;
  }

  /**
   * The chosen images, and how many more the rules would have taken but {@code limit} cut.
   */
  record Choice(List<ReportImage.Dicom> images, int cutByLimit) {}
}
