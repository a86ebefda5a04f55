package dev.medgemmafhir.operations.draftreport;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Reference;

/**
 * Chooses which DICOM instances of a study the model sees, without downloading any pixels.
 *
 * <p>Each series is read from the Endpoint FHIR_CONVENTIONS.md names (the series' own, else the
 * study's; {@code dicom-wado-rs} only). Series that hold no pictures (structured reports, key
 * objects, presentation states, segmentations, RT objects) are skipped. Instances the
 * ImagingStudy does not list are listed with QIDO-RS. From each series at most {@code perSeries}
 * instances are taken, spread evenly over the series and ordered middle first (the middle of a
 * stack usually shows the organ the study was ordered for); then the series take turns, so with a
 * tight limit every series still contributes its middle image before any series a second one.
 */
public final class StudyImages implements ImageChoice {

  static final String DICOM_UID_SYSTEM = "urn:dicom:uid";
  static final String CONNECTION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type";
  static final String WADO_RS = "dicom-wado-rs";
  /** Modalities of series that are not pictures; rendering them fails or shows nothing useful. */
  static final Set<String> NOT_PICTURES = Set.of("SR", "KO", "PR", "DOC", "SEG", "REG", "FID",
      "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "PLAN", "AU", "ECG", "HD");

  private final DaoRegistry daos;
  private final DicomWeb dicomWeb;

  public StudyImages(DaoRegistry daos, DicomWeb dicomWeb) {
    this.daos = daos;
    this.dicomWeb = dicomWeb;
  }


  /** Where the study's images are and its UID: read from the database only, no PACS request. */
  private record Layout(String target, Optional<String> studyAddress, List<Optional<String>> seriesAddresses,
      String studyUid) {}

  /** @throws UnprocessableEntityException the study has no way to reach any image */
  private Layout layout(ImagingStudy study, RequestDetails request) {
    String target = "ImagingStudy/" + study.getIdElement().getIdPart();
    Optional<String> studyAddress = endpointAddress(study.getEndpoint(), request);
    List<Optional<String>> seriesAddresses = study.getSeries().stream()
        .map(s -> endpointAddress(s.getEndpoint(), request).or(() -> studyAddress)).toList();
    if (seriesAddresses.stream().allMatch(Optional::isEmpty) && studyAddress.isEmpty()) {
      throw new UnprocessableEntityException(target + " has no images to report on: neither the study nor its series"
          + " has an Endpoint with connectionType " + WADO_RS + ", and the request has no 'image' parameter");
    }
    String studyUid = studyUid(study).orElseThrow(() -> new UnprocessableEntityException(target
        + " has no Study Instance UID (an identifier with system " + DICOM_UID_SYSTEM + " and value urn:oid:<uid>),"
        + " so its images cannot be fetched from the PACS"));
    return new Layout(target, studyAddress, seriesAddresses, studyUid);
  }

  /** True when the study lists no series, or an image series without its instances: QIDO-RS must list them. */
  @Override
  public boolean asksPacs(ImagingStudy study, RequestDetails request) {
    Layout layout = layout(study, request);
    if (study.getSeries().isEmpty()) {
      return layout.studyAddress().isPresent();
    }
    for (int i = 0; i < study.getSeries().size(); i++) {
      ImagingStudy.ImagingStudySeriesComponent s = study.getSeries().get(i);
      if (layout.seriesAddresses().get(i).isPresent() && s.hasUid() && isPicture(s.getModality().getCode())
          && s.getInstance().stream().noneMatch(ImagingStudy.ImagingStudySeriesInstanceComponent::hasUid)) {
        return true;
      }
    }
    return false;
  }

  /**
   * The study's instances in the order the model should get them (most wanted first), at most
   * {@code limit} of them and at most {@code perSeries} from one series.
   *
   * @throws UnprocessableEntityException the study has no way to reach any image
   */
  @Override
  public Choice choose(ImagingStudy study, int perSeries, int limit, RequestDetails request) {
    Layout layout = layout(study, request);
    String target = layout.target();
    Optional<String> studyAddress = layout.studyAddress();
    List<Optional<String>> seriesAddresses = layout.seriesAddresses();
    String studyUid = layout.studyUid();

    List<SeriesPlan> series = new ArrayList<>();
    if (study.getSeries().isEmpty() && studyAddress.isPresent()) {
      for (DicomWeb.SeriesListing listed : dicomWeb.listSeries(studyAddress.get(), studyUid)) {
        if (isPicture(listed.modality())) {
          series.add(new SeriesPlan(studyAddress.get(), listed.seriesUid(), listed.number(),
              seriesLabel(listed.number(), listed.modality(), null, null), List.of(), series.size()));
        }
      }
    }
    for (int i = 0; i < study.getSeries().size(); i++) {
      ImagingStudy.ImagingStudySeriesComponent s = study.getSeries().get(i);
      Optional<String> address = seriesAddresses.get(i);
      if (address.isEmpty() || !s.hasUid() || !isPicture(s.getModality().getCode())) {
        continue;
      }
      List<Listed> instances = s.getInstance().stream().filter(ImagingStudy.ImagingStudySeriesInstanceComponent::hasUid)
          .map(inst -> new Listed(inst.getUid(), inst.hasNumber() ? inst.getNumber() : null)).toList();
      series.add(new SeriesPlan(address.get(), s.getUid(), s.hasNumber() ? s.getNumber() : null,
          seriesLabel(s.hasNumber() ? s.getNumber() : null, s.getModality().getCode(), s.getDescription(),
              s.hasBodySite() ? s.getBodySite().getDisplay() : null), instances, series.size()));
    }
    // Reading order: by series number, then as listed.
    series.sort(Comparator.comparing((SeriesPlan p) -> p.number() == null ? Integer.MAX_VALUE : p.number())
        .thenComparing(SeriesPlan::listed));

    List<List<ReportImage.Dicom>> picks = new ArrayList<>();
    for (int rank = 0; rank < series.size(); rank++) {
      SeriesPlan plan = series.get(rank);
      if (picks.size() >= limit && plan.instances().isEmpty()) {
        continue; // not worth a PACS query: none of its images would be taken
      }
      List<Listed> instances = plan.instances().isEmpty()
          ? dicomWeb.listInstances(plan.address(), studyUid, plan.seriesUid()).stream()
              .map(inst -> new Listed(inst.sopInstanceUid(), inst.number())).toList()
          : plan.instances();
      if (instances.isEmpty()) {
        continue;
      }
      List<Listed> ordered = new ArrayList<>(instances);
      ordered.sort(Comparator.comparing((Listed l) -> l.number() == null ? Integer.MAX_VALUE : l.number()));
      List<ReportImage.Dicom> chosen = new ArrayList<>();
      for (int position : spreadMiddleFirst(ordered.size(), perSeries)) {
        Listed instance = ordered.get(position);
        chosen.add(new ReportImage.Dicom(plan.address(), studyUid, plan.seriesUid(), instance.uid(), instance.number(),
            rank, plan.label(), position, ordered.size()));
      }
      picks.add(chosen);
    }
    if (picks.isEmpty()) {
      throw new UnprocessableEntityException(target + " has no images to report on: the PACS lists no instances in"
          + " its image series, and the request has no 'image' parameter");
    }
    // Series take turns: every series' first choice, then every series' second, ...
    List<ReportImage.Dicom> result = new ArrayList<>();
    for (int turn = 0; result.size() < limit; turn++) {
      boolean any = false;
      for (List<ReportImage.Dicom> chosen : picks) {
        if (turn < chosen.size() && result.size() < limit) {
          result.add(chosen.get(turn));
          any = true;
        }
      }
      if (!any) {
        break;
      }
    }
    int candidates = picks.stream().mapToInt(List::size).sum();
    return new Choice(result, candidates - result.size());
  }

  /**
   * Positions (0-based) of {@code k} instances spread evenly over a series of {@code n}, the one
   * nearest the middle first, then outwards.
   */
  static List<Integer> spreadMiddleFirst(int n, int k) {
    TreeSet<Integer> positions = new TreeSet<>();
    if (k >= n) {
      for (int i = 0; i < n; i++) {
        positions.add(i);
      }
    } else {
      for (int i = 0; i < k; i++) {
        // The i-th of k points that cut the series into k+1 equal parts; k=1 is the middle.
        positions.add((int) (((long) (i + 1) * (n - 1) + (k + 1) / 2) / (k + 1)));
      }
    }
    double middle = (n - 1) / 2.0;
    List<Integer> ordered = new ArrayList<>(positions);
    ordered.sort(Comparator.comparingDouble((Integer p) -> Math.abs(p - middle)).thenComparing(p -> p));
    return ordered;
  }

  /**
   * The study's DICOM Study Instance UID, without the {@code urn:oid:} prefix: an identifier with
   * system {@code urn:dicom:uid}, or (as Synthea and other writers of R4 examples record it) system
   * {@code urn:ietf:rfc:3986} with a {@code urn:oid:} value.
   */
  static Optional<String> studyUid(ImagingStudy study) {
    return study.getIdentifier().stream()
        .filter(i -> i.hasValue() && DICOM_UID_SYSTEM.equals(i.getSystem()))
        .map(i -> i.getValue().startsWith("urn:oid:") ? i.getValue().substring("urn:oid:".length()) : i.getValue())
        .filter(v -> !v.isBlank())
        .findFirst()
        .or(() -> study.getIdentifier().stream()
            .filter(i -> "urn:ietf:rfc:3986".equals(i.getSystem()) && i.hasValue() && i.getValue().startsWith("urn:oid:"))
            .map(i -> i.getValue().substring("urn:oid:".length()))
            .filter(v -> !v.isBlank())
            .findFirst());
  }

  /** The address of the first WADO-RS Endpoint among {@code references} that exists and may be called. */
  private Optional<String> endpointAddress(List<Reference> references, RequestDetails request) {
    for (Reference reference : references) {
      var id = reference.getReferenceElement();
      if (!"Endpoint".equals(id.getResourceType()) || !id.hasIdPart() || id.isAbsolute()) {
        continue;
      }
      Endpoint endpoint;
      try {
        endpoint = daos.getResourceDao(Endpoint.class).read(id.toUnqualifiedVersionless(), request);
      } catch (ResourceNotFoundException | ResourceGoneException e) {
        continue;
      }
      boolean wado = CONNECTION_TYPE_SYSTEM.equals(endpoint.getConnectionType().getSystem())
          && WADO_RS.equals(endpoint.getConnectionType().getCode());
      if (!wado || !endpoint.hasAddress()) {
        continue;
      }
      if (endpoint.getStatus() != null && endpoint.getStatus() != Endpoint.EndpointStatus.ACTIVE) {
        continue;
      }
      String address = normalise(endpoint.getAddress());
      if (!dicomWeb.allows(address)) {
        throw new UnprocessableEntityException("Endpoint/" + endpoint.getIdElement().getIdPart() + " has address "
            + address + ", which this server may not call: only http(s) addresses that start with an entry of"
            + " medgemma.operations.draft-report.dicomweb.allowed-addresses are called (empty by default: none)");
      }
      return Optional.of(address);
    }
    return Optional.empty();
  }

  /** Base URL without trailing slashes; a {@code /studies} suffix, which some systems record, is dropped. */
  static String normalise(String address) {
    String a = address.strip();
    while (a.endsWith("/")) {
      a = a.substring(0, a.length() - 1);
    }
    if (a.endsWith("/studies")) {
      a = a.substring(0, a.length() - "/studies".length());
    }
    return a;
  }

  private static boolean isPicture(String modality) {
    return modality == null || !NOT_PICTURES.contains(modality.strip().toUpperCase(java.util.Locale.ROOT));
  }

  private static String seriesLabel(Integer number, String modality, String description, String bodySite) {
    List<String> parts = new ArrayList<>();
    if (modality != null && !modality.isBlank()) {
      parts.add(modality);
    }
    if (description != null && !description.isBlank()) {
      parts.add(description.strip());
    } else if (bodySite != null && !bodySite.isBlank()) {
      parts.add(bodySite.strip());
    }
    String n = number == null ? "" : number.toString();
    return parts.isEmpty() ? (n.isEmpty() ? "(unnumbered)" : n) : (n.isEmpty() ? "" : n + " ") + "(" + String.join(", ", parts) + ")";
  }

  private record Listed(String uid, Integer number) {}

  private record SeriesPlan(String address, String seriesUid, Integer number, String label, List<Listed> instances,
      int listed) {}
}
