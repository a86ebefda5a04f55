package dev.medgemmafhir.server.review;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.ReferenceParam;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import dev.medgemmafhir.interceptors.smart.AccessTokenValidator;
import dev.medgemmafhir.interceptors.smart.InvalidTokenException;
import dev.medgemmafhir.interceptors.smart.PatientCompartment;
import dev.medgemmafhir.interceptors.smart.SmartPrincipal;
import dev.medgemmafhir.operations.draftreport.DicomWeb;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.CacheControl;
import org.springframework.http.HttpHeaders;
import org.springframework.http.MediaType;
import org.springframework.http.ResponseEntity;

/**
 * The images an AI report was written from, fetched from the PACS by the server so the reviewer's
 * browser needs no PACS access: {@code GET /review/api/DiagnosticReport/{id}/images/{n}} answers
 * the n-th DICOM instance (0-based) that the report's AI Provenance lists, rendered as PNG/JPEG.
 *
 * <p>With security on it asks what a FHIR read of the report and its study would ask: a valid
 * access token whose scopes grant {@code DiagnosticReport.r} and {@code ImagingStudy.r}
 * ({@code patient/} scopes only for a report in the token's patient compartment). Errors are
 * OperationOutcomes: 401, 403, 404, 502 (the PACS failed).
 */
final class ReviewImages {

  static final String DICOM_UID_SYSTEM = "urn:dicom:uid";
  static final String AI_PROVENANCE = AiVocabulary.AI_PROVENANCE_PROFILE;
  private static final String WADO_RS = "dicom-wado-rs";
  private static final Logger LOG = LoggerFactory.getLogger(ReviewImages.class);

  private final DaoRegistry daos;
  private final DicomWeb dicomWeb;
  private final FhirContext fhir;
  private final Optional<AccessTokenValidator> tokens;
  private final PatientCompartment compartment;

  /**
   * @param tokens the token check, empty when {@code medgemma.security.enabled=false}
   */
  ReviewImages(DaoRegistry daos, DicomWeb dicomWeb, FhirContext fhir, Optional<AccessTokenValidator> tokens,
      PatientCompartment compartment) {
    this.daos = daos;
    this.dicomWeb = dicomWeb;
    this.fhir = fhir;
    this.tokens = tokens;
    this.compartment = compartment;
  }

  ResponseEntity<byte[]> image(String reportId, int index, String authorization) {
    IdType report = new IdType("DiagnosticReport", reportId);
    try {
      if (tokens.isPresent()) {
        authorize(tokens.get(), authorization, report);
      }
      DiagnosticReport draft = daos.getResourceDao(DiagnosticReport.class).read(report, new SystemRequestDetails());
      List<String> instances = dicomInstances(report);
      if (index < 0 || index >= instances.size()) {
        return outcome(404, report.getValue() + " has no DICOM image number " + index + " in its AI Provenance ("
            + instances.size() + " listed)");
      }
      DicomWeb.Rendered rendered = render(draft, instances.get(index));
      return ResponseEntity.ok()
          .contentType(MediaType.parseMediaType(rendered.mediaType()))
          .cacheControl(CacheControl.noStore())
          .body(rendered.bytes());
    } catch (InvalidTokenException e) {
      return outcome(401, e.getMessage());
    } catch (BaseServerResponseException e) {
      LOG.info("review image {} #{}: {} {}", report.getValue(), index, e.getStatusCode(), e.getClass().getSimpleName());
      return outcome(e.getStatusCode(), e.getMessage());
    }
  }

  private void authorize(AccessTokenValidator validator, String authorization, IdType report) throws InvalidTokenException {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw new InvalidTokenException("An access token is required (Authorization: Bearer ...)");
    }
    SmartPrincipal principal = validator.validate(authorization.substring(7).strip());
    for (String type : List.of("DiagnosticReport", "ImagingStudy")) {
      if (principal.grantsWithoutCompartment(type, 'r')) {
        continue;
      }
      if (!principal.grantsInPatientCompartment(type, 'r')) {
        throw new ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException(
            "Showing a report's images needs the scopes DiagnosticReport.r and ImagingStudy.r (missing " + type + ".r)");
      }
      if (!compartment.contains(report, principal.patientId())) {
        throw new ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException(
            report.getValue() + " is not in the access token's patient compartment");
      }
    }
  }

  /** SOP Instance UIDs of the images the AI Provenance of the report lists, in its order. */
  private List<String> dicomInstances(IdType report) {
    SearchParameterMap search = SearchParameterMap.newSynchronous("target", new ReferenceParam(report.getValue()));
    List<String> uids = new ArrayList<>();
    daos.getResourceDao(Provenance.class).search(search, new SystemRequestDetails()).getAllResources().stream()
        .map(Provenance.class::cast)
        .filter(p -> p.getMeta().hasProfile(AI_PROVENANCE))
        .findFirst()
        .ifPresent(p -> p.getEntity().stream().map(Provenance.ProvenanceEntityComponent::getWhat)
            .filter(what -> what.hasIdentifier() && DICOM_UID_SYSTEM.equals(what.getIdentifier().getSystem()))
            .map(what -> stripOid(what.getIdentifier().getValue()))
            .forEach(uids::add));
    return uids;
  }

  /** Finds the instance's series and PACS in the report's studies and fetches it rendered. */
  private DicomWeb.Rendered render(DiagnosticReport report, String sopInstanceUid) {
    for (Reference studyReference : report.getImagingStudy()) {
      ImagingStudy study;
      try {
        study = daos.getResourceDao(ImagingStudy.class).read(
            studyReference.getReferenceElement().toUnqualifiedVersionless(), new SystemRequestDetails());
      } catch (BaseServerResponseException e) {
        continue;
      }
      Optional<String> studyUid = study.getIdentifier().stream()
          .filter(i -> DICOM_UID_SYSTEM.equals(i.getSystem()) && i.hasValue()).map(i -> stripOid(i.getValue())).findFirst();
      if (studyUid.isEmpty()) {
        continue;
      }
      Optional<String> studyAddress = address(study.getEndpoint());
      // A series that lists the instance first; then ask the PACS which series holds it.
      for (ImagingStudy.ImagingStudySeriesComponent series : study.getSeries()) {
        Optional<String> address = address(series.getEndpoint()).or(() -> studyAddress);
        if (address.isPresent() && series.getInstance().stream().anyMatch(i -> sopInstanceUid.equals(i.getUid()))) {
          return dicomWeb.rendered(address.get(), studyUid.get(), series.getUid(), sopInstanceUid);
        }
      }
      for (ImagingStudy.ImagingStudySeriesComponent series : study.getSeries()) {
        Optional<String> address = address(series.getEndpoint()).or(() -> studyAddress);
        if (address.isPresent() && series.hasUid() && dicomWeb.listInstances(address.get(), studyUid.get(), series.getUid())
            .stream().anyMatch(i -> sopInstanceUid.equals(i.sopInstanceUid()))) {
          return dicomWeb.rendered(address.get(), studyUid.get(), series.getUid(), sopInstanceUid);
        }
      }
      if (study.getSeries().isEmpty() && studyAddress.isPresent()) {
        for (DicomWeb.SeriesListing series : dicomWeb.listSeries(studyAddress.get(), studyUid.get())) {
          if (dicomWeb.listInstances(studyAddress.get(), studyUid.get(), series.seriesUid()).stream()
              .anyMatch(i -> sopInstanceUid.equals(i.sopInstanceUid()))) {
            return dicomWeb.rendered(studyAddress.get(), studyUid.get(), series.seriesUid(), sopInstanceUid);
          }
        }
      }
    }
    throw new ResourceNotFoundException("DICOM instance " + sopInstanceUid + " is not found in the studies of "
        + "DiagnosticReport/" + report.getIdElement().getIdPart());
  }

  private Optional<String> address(List<Reference> endpoints) {
    for (Reference reference : endpoints) {
      IdType id = new IdType(reference.getReference());
      if (!"Endpoint".equals(id.getResourceType()) || !id.hasIdPart() || id.isAbsolute()) {
        continue;
      }
      Endpoint endpoint;
      try {
        endpoint = daos.getResourceDao(Endpoint.class).read(id.toUnqualifiedVersionless(), new SystemRequestDetails());
      } catch (BaseServerResponseException e) {
        continue;
      }
      if (WADO_RS.equals(endpoint.getConnectionType().getCode()) && endpoint.hasAddress()) {
        String address = endpoint.getAddress().strip().replaceAll("/+$", "").replaceAll("/studies$", "");
        if (dicomWeb.allows(address)) {
          return Optional.of(address);
        }
      }
    }
    return Optional.empty();
  }

  private static String stripOid(String value) {
    return value.startsWith("urn:oid:") ? value.substring("urn:oid:".length()) : value;
  }

  private ResponseEntity<byte[]> outcome(int status, String diagnostics) {
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
        .setCode(status == 401 ? OperationOutcome.IssueType.LOGIN
            : status == 403 ? OperationOutcome.IssueType.FORBIDDEN
            : status == 404 ? OperationOutcome.IssueType.NOTFOUND : OperationOutcome.IssueType.EXCEPTION)
        .setDiagnostics(diagnostics);
    ResponseEntity.BodyBuilder response = ResponseEntity.status(status)
        .contentType(MediaType.parseMediaType("application/fhir+json"))
        .cacheControl(CacheControl.noStore());
    if (status == 401) {
      response.header(HttpHeaders.WWW_AUTHENTICATE, "Bearer");
    }
    return response.body(fhir.newJsonParser().encodeResourceToString(outcome).getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
