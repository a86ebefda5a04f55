package dev.medgemmafhir.operations.draftreport;

import static dev.medgemmafhir.operations.context.FactText.concept;
import static dev.medgemmafhir.operations.context.FactText.concepts;
import static dev.medgemmafhir.operations.context.FactText.versioned;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.hl7.fhir.instance.model.api.IIdType;
import org.hl7.fhir.r4.model.Annotation;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.ServiceRequest;

/**
 * What a report is written about, read through the JPA DAOs with the caller's request so the
 * server's access rules apply: the ImagingStudy, its Patient, its orders (ServiceRequests) and the
 * resources its reasonReference names.
 *
 * @param study the study as read (versioned id)
 * @param patient the subject when it is a Patient, else null
 * @param orders the ServiceRequests of {@code basedOn} that exist
 * @param reasons the Conditions / Observations of {@code reasonReference} that exist
 */
record StudyContext(ImagingStudy study, Patient patient, List<ServiceRequest> orders, List<Resource> reasons) {

  /** Longest derived indication: order notes can be long, and images need the context. */
  static final int MAX_INDICATION_CHARS = 2000;

  static StudyContext read(DaoRegistry daos, IdType studyId, RequestDetails request) {
    ImagingStudy study = daos.getResourceDao(ImagingStudy.class).read(studyId.toUnqualifiedVersionless(), request);
    Patient patient = null;
    IIdType subject = study.getSubject().getReferenceElement();
    if ("Patient".equals(subject.getResourceType()) && subject.hasIdPart()) {
      patient = daos.getResourceDao(Patient.class).read(subject.toUnqualifiedVersionless(), request);
    }
    List<ServiceRequest> orders = new ArrayList<>();
    for (Reference basedOn : study.getBasedOn()) {
      readIfPresent(daos, basedOn, ServiceRequest.class, request).ifPresent(orders::add);
    }
    List<Resource> reasons = new ArrayList<>();
    for (Reference reason : study.getReasonReference()) {
      String type = reason.getReferenceElement().getResourceType();
      if ("Condition".equals(type)) {
        readIfPresent(daos, reason, Condition.class, request).ifPresent(reasons::add);
      } else if ("Observation".equals(type)) {
        readIfPresent(daos, reason, Observation.class, request).ifPresent(reasons::add);
      }
    }
    return new StudyContext(study, patient, orders, reasons);
  }

  /** A dangling reference is skipped: the study is still worth reporting on. */
  private static <T extends Resource> Optional<T> readIfPresent(DaoRegistry daos, Reference reference, Class<T> type,
      RequestDetails request) {
    IIdType id = reference.getReferenceElement();
    if (!type.getSimpleName().equals(id.getResourceType()) || !id.hasIdPart() || id.isAbsolute()) {
      return Optional.empty();
    }
    try {
      return Optional.of(daos.getResourceDao(type).read(id.toUnqualifiedVersionless(), request));
    } catch (ResourceNotFoundException | ResourceGoneException e) {
      return Optional.empty();
    }
  }

  String target() {
    return "ImagingStudy/" + study.getIdElement().getIdPart();
  }

  /** Versioned references of every resource read: the Provenance's entities and part of the idempotency key. */
  List<String> inputs() {
    List<String> inputs = new ArrayList<>();
    inputs.add(versioned(study));
    if (patient != null) {
      inputs.add(versioned(patient));
    }
    orders.forEach(o -> inputs.add(versioned(o)));
    reasons.forEach(r -> inputs.add(versioned(r)));
    return inputs;
  }

  /** What was done: the procedure, else the study's description, with the modalities. */
  String studyLine() {
    List<String> parts = new ArrayList<>();
    String procedure = concepts(study.getProcedureCode());
    if (!procedure.isBlank()) {
      parts.add(procedure);
    }
    if (study.hasDescription() && !study.getDescription().equals(procedure)) {
      parts.add(study.getDescription());
    }
    List<String> modalities = study.getModality().stream().map(c -> c.getCode()).filter(c -> c != null).toList();
    if (modalities.isEmpty()) {
      modalities = study.getSeries().stream().map(s -> s.getModality().getCode()).filter(c -> c != null)
          .distinct().toList();
    }
    if (!modalities.isEmpty()) {
      parts.add("modality " + String.join("/", modalities));
    }
    return parts.isEmpty() ? "imaging study" : String.join("; ", parts);
  }

  /**
   * Why the study was done, from the study's reasons, then its orders' reasons, codes and notes;
   * empty when nothing is recorded.
   */
  String derivedIndication() {
    Map<String, Boolean> lines = studyReasons();
    for (ServiceRequest order : orders) {
      addLine(lines, concepts(order.getReasonCode()));
      for (Reference reason : order.getReasonReference()) {
        if (reason.hasDisplay()) {
          addLine(lines, reason.getDisplay());
        }
      }
      String code = concept(order.getCode());
      if (code != null) {
        addLine(lines, "ordered: " + code);
      }
      for (Annotation note : order.getNote()) {
        addLine(lines, note.getText());
      }
    }
    String text = String.join("; ", lines.keySet());
    return text.length() <= MAX_INDICATION_CHARS ? text : text.substring(0, MAX_INDICATION_CHARS) + " [...]";
  }

  /** Where {@link #derivedIndication()} comes from: {@code study} (its own reasons), {@code order}, or {@code none}. */
  String indicationSource() {
    return !studyReasons().isEmpty() ? "study" : derivedIndication().isBlank() ? "none" : "order";
  }

  /** The indication lines the study itself records. */
  private Map<String, Boolean> studyReasons() {
    Map<String, Boolean> lines = new LinkedHashMap<>();
    addLine(lines, concepts(study.getReasonCode()));
    for (Reference reason : study.getReasonReference()) {
      if (reason.hasDisplay()) {
        addLine(lines, reason.getDisplay());
      }
    }
    for (Resource reason : reasons) {
      if (reason instanceof Condition condition) {
        addLine(lines, concept(condition.getCode()));
      } else if (reason instanceof Observation observation) {
        addLine(lines, concept(observation.getCode()));
      }
    }
    return lines;
  }

  private static void addLine(Map<String, Boolean> lines, String text) {
    if (text != null && !text.isBlank()) {
      lines.putIfAbsent(text.strip().replaceAll("\\s+", " "), Boolean.TRUE);
    }
  }
}
