package dev.medgemmafhir.server.security;

import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.Function;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations.DocumentReferenceStatus;
import org.hl7.fhir.r4.model.HumanName;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.hl7.fhir.r4.model.StringType;

/**
 * The attack suite's data: one resource of every Patient-compartment type this server works
 * with, each carrying its patient's unique marker string in a text element, so a response that
 * leaks any of it is caught by a plain substring search.
 */
final class Charts {

  /** Where a resource points at its patient and encounter; builds one for a chart. */
  record Kind(String type, String patientParam, Function<Owner, Resource> make) {
    @Override
    public String toString() {
      return type;
    }
  }

  /** The patient (and encounter) a new resource belongs to, and the marker it carries. */
  record Owner(String patient, String encounter, String marker) {}

  /** One seeded patient record: {@code Type/id} per kind, and its marker. */
  record Chart(String marker, Map<String, String> ids) {
    String id(String type) {
      return ids.get(type);
    }

    String idPart(String type) {
      return new IdType(ids.get(type)).getIdPart();
    }

    Owner owner() {
      return new Owner(ids.get("Patient"), ids.get("Encounter"), marker);
    }
  }

  static final List<Kind> KINDS = List.of(
      new Kind("Patient", null, o -> new Patient().addName(new HumanName().setFamily(o.marker()))),
      new Kind("Encounter", "subject", o -> new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
          .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", null))
          .setSubject(ref(o.patient())).addReasonCode(text(o.marker()))),
      new Kind("Observation", "subject", o -> new Observation().setStatus(Observation.ObservationStatus.FINAL)
          .setCode(text("heart rate")).setSubject(ref(o.patient())).setEncounter(ref(o.encounter()))
          .setValue(new StringType(o.marker()))),
      new Kind("Condition", "subject", o -> new Condition().setSubject(ref(o.patient())).setCode(text(o.marker()))),
      new Kind("DocumentReference", "subject", o -> {
        DocumentReference d = new DocumentReference().setStatus(DocumentReferenceStatus.CURRENT)
            .setSubject(ref(o.patient())).setDescription(o.marker());
        d.addContent().getAttachment().setContentType("text/plain").setTitle(o.marker());
        return d;
      }),
      new Kind("DiagnosticReport", "subject", o -> new DiagnosticReport()
          .setStatus(DiagnosticReport.DiagnosticReportStatus.FINAL).setCode(text("report"))
          .setSubject(ref(o.patient())).setConclusion(o.marker())),
      new Kind("ImagingStudy", "subject", o -> new ImagingStudy().setStatus(ImagingStudy.ImagingStudyStatus.AVAILABLE)
          .setSubject(ref(o.patient())).setDescription(o.marker())),
      new Kind("MedicationRequest", "subject", o -> new MedicationRequest()
          .setStatus(MedicationRequest.MedicationRequestStatus.ACTIVE)
          .setIntent(MedicationRequest.MedicationRequestIntent.ORDER)
          .setMedication(text(o.marker())).setSubject(ref(o.patient()))),
      new Kind("Procedure", "subject", o -> new Procedure().setStatus(Procedure.ProcedureStatus.COMPLETED)
          .setSubject(ref(o.patient())).setCode(text(o.marker()))),
      new Kind("AllergyIntolerance", "patient", o -> new AllergyIntolerance().setPatient(ref(o.patient()))
          .setCode(text(o.marker()))),
      new Kind("Provenance", "patient", o -> {
        Provenance p = new Provenance().addTarget(ref(o.patient())).setRecorded(new Date());
        p.addAgent().setWho(new Reference().setDisplay("front desk"));
        p.addReason(text(o.marker()));
        return p;
      }));

  private Charts() {}

  static String newMarker(String label) {
    return "MRK" + label + UUID.randomUUID().toString().replace("-", "");
  }

  /** A transaction that creates one resource of every kind for a new patient. */
  static Bundle transaction(String marker) {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    String patient = "urn:uuid:" + UUID.randomUUID();
    String encounter = "urn:uuid:" + UUID.randomUUID();
    Owner owner = new Owner(patient, encounter, marker);
    for (Kind kind : KINDS) {
      String fullUrl = switch (kind.type()) {
        case "Patient" -> patient;
        case "Encounter" -> encounter;
        default -> "urn:uuid:" + UUID.randomUUID();
      };
      tx.addEntry().setFullUrl(fullUrl).setResource(kind.make().apply(owner))
          .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl(kind.type());
    }
    return tx;
  }

  /** Reads the ids a {@link #transaction} created, in {@link #KINDS} order. */
  static Chart chart(String marker, Bundle response) {
    Map<String, String> ids = new LinkedHashMap<>();
    for (int i = 0; i < KINDS.size(); i++) {
      ids.put(KINDS.get(i).type(), new IdType(response.getEntry().get(i).getResponse().getLocation())
          .toUnqualifiedVersionless().getValue());
    }
    return new Chart(marker, Map.copyOf(ids));
  }

  private static Reference ref(String reference) {
    return new Reference(reference);
  }

  private static CodeableConcept text(String text) {
    return new CodeableConcept().setText(text);
  }
}
