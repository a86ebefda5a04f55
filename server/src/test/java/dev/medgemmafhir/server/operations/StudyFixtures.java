package dev.medgemmafhir.server.operations;

import ca.uhn.fhir.rest.client.api.IGenericClient;
import java.util.Date;
import java.util.function.Consumer;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Endpoint;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.ServiceRequest;

/** A chest radiograph as a hospital records it: patient, encounter, the order, its reason and the study. */
final class StudyFixtures {

  static final String STUDY_REASON = "Chronic cough";
  static final String CONDITION = "Suspected pneumonia";
  static final String ORDER_CODE = "Chest X-ray";
  static final String ORDER_NOTE = "Smoker, 30 pack-years";
  static final String PROCEDURE_LOINC = "36643-5";
  static final Date STARTED = new Date(1_700_000_000_000L);

  /** Ids of what was created ({@code Type/id}, no version). */
  record Study(String study, String patient, String encounter, String order, String condition) {}

  private StudyFixtures() {}

  static Study create(IGenericClient client, Consumer<ImagingStudy> customise) {
    Patient patient = new Patient();
    patient.addName().setFamily("Fixture").addGiven("Imaging");
    patient.setGender(Enumerations.AdministrativeGender.FEMALE);
    String patientId = "Patient/" + client.create().resource(patient).execute().getId().getIdPart();
    Encounter encounter = new Encounter().setStatus(Encounter.EncounterStatus.INPROGRESS)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory"))
        .setSubject(new Reference(patientId));
    String encounterId = "Encounter/" + client.create().resource(encounter).execute().getId().getIdPart();
    Condition condition = new Condition().setSubject(new Reference(patientId))
        .setCode(new CodeableConcept().addCoding(new Coding("http://snomed.info/sct", "233604007", CONDITION)));
    String conditionId = "Condition/" + client.create().resource(condition).execute().getId().getIdPart();
    ServiceRequest order = new ServiceRequest().setStatus(ServiceRequest.ServiceRequestStatus.ACTIVE)
        .setIntent(ServiceRequest.ServiceRequestIntent.ORDER).setSubject(new Reference(patientId))
        .setCode(new CodeableConcept().addCoding(new Coding("http://loinc.org", PROCEDURE_LOINC, ORDER_CODE)));
    order.addNote().setText(ORDER_NOTE);
    String orderId = "ServiceRequest/" + client.create().resource(order).execute().getId().getIdPart();

    ImagingStudy study = new ImagingStudy().setStatus(ImagingStudy.ImagingStudyStatus.AVAILABLE)
        .setSubject(new Reference(patientId)).setEncounter(new Reference(encounterId)).setStarted(STARTED)
        .setDescription("CHEST PA AND LATERAL");
    study.addBasedOn(new Reference(orderId));
    study.addReasonCode().setText(STUDY_REASON);
    study.addReasonReference(new Reference(conditionId));
    study.addProcedureCode(new CodeableConcept().addCoding(
        new Coding("http://loinc.org", PROCEDURE_LOINC, "XR Chest 2 Views")));
    study.addModality(new Coding("http://dicom.nema.org/resources/ontology/DCM", "CR", null));
    customise.accept(study);
    String studyId = "ImagingStudy/" + client.create().resource(study).execute().getId().getIdPart();
    return new Study(studyId, patientId, encounterId, orderId, conditionId);
  }

  /** A DICOMweb (WADO-RS) Endpoint at {@code address}; returns {@code Endpoint/id}. */
  static String endpoint(IGenericClient client, String address) {
    Endpoint endpoint = new Endpoint().setStatus(Endpoint.EndpointStatus.ACTIVE)
        .setConnectionType(new Coding("http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
            "dicom-wado-rs", "DICOM WADO-RS"))
        .setAddress(address);
    endpoint.addPayloadType().setText("DICOM");
    endpoint.addPayloadMimeType("application/dicom");
    return "Endpoint/" + client.create().resource(endpoint).execute().getId().getIdPart();
  }

  /** Adds a series with the given instance UIDs (none: the PACS must be asked for them). */
  static ImagingStudy.ImagingStudySeriesComponent series(ImagingStudy study, String uid, int number, String modality,
      String... instanceUids) {
    ImagingStudy.ImagingStudySeriesComponent series = study.addSeries().setUid(uid).setNumber(number)
        .setModality(new Coding("http://dicom.nema.org/resources/ontology/DCM", modality, null));
    for (int i = 0; i < instanceUids.length; i++) {
      series.addInstance().setUid(instanceUids[i]).setNumber(i + 1)
          .setSopClass(new Coding("urn:ietf:rfc:3986", "urn:oid:1.2.840.10008.5.1.4.1.1.7", null));
    }
    return series;
  }
}
