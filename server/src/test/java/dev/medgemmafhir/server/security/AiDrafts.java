package dev.medgemmafhir.server.security;

import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.UUID;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations.DocumentReferenceStatus;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Practitioner;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;

/**
 * One patient's data with AI drafts shaped exactly like the operations write them: AIAST label,
 * preliminary, Device author, and an AI Provenance (profile, AIAST, author agent, source entity).
 */
public final class AiDrafts {

  static final String AIAST_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
  static final String AI_PROVENANCE = "http://hl7.org/fhir/uv/aitransparency/StructureDefinition/AI-Provenance";

  /** Ids ({@code Type/id}) of what {@link #transaction()} created, read from the response. */
  public record Ids(String patient, String practitioner, String device, String encounter, String imagingStudy,
      String observation, String document, String documentProvenance, String report, String reportProvenance) {

    public static Ids from(Bundle response) {
      String[] ids = response.getEntry().stream()
          .map(e -> new IdType(e.getResponse().getLocation()).toUnqualifiedVersionless().getValue())
          .toArray(String[]::new);
      return new Ids(ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], ids[8], ids[9]);
    }
  }

  private AiDrafts() {}

  public static Bundle transaction() {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    String patient = add(tx, new Patient().addName(new org.hl7.fhir.r4.model.HumanName().setFamily("Test")));
    String practitioner = add(tx, new Practitioner().addName(new org.hl7.fhir.r4.model.HumanName().setFamily("Reviewer")));
    Device device = new Device();
    device.setType(new CodeableConcept(new Coding(
        "http://hl7.org/fhir/uv/aitransparency/CodeSystem/AIdeviceTypeCS", "Artificial-Intelligence", null)));
    device.addDeviceName().setName("MedGemma 4B IT, ONNX q4").setType(Device.DeviceNameType.USERFRIENDLYNAME);
    String deviceRef = add(tx, device);
    Encounter encounter = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", null))
        .setSubject(new Reference(patient));
    String encounterRef = add(tx, encounter);
    ImagingStudy study = new ImagingStudy().setStatus(ImagingStudy.ImagingStudyStatus.AVAILABLE)
        .setSubject(new Reference(patient));
    String studyRef = add(tx, study);
    add(tx, new Observation().setStatus(Observation.ObservationStatus.FINAL)
        .setCode(new CodeableConcept(new Coding("http://loinc.org", "8867-4", "Heart rate")))
        .setSubject(new Reference(patient)));

    DocumentReference document = new DocumentReference()
        .setStatus(DocumentReferenceStatus.CURRENT)
        .setDocStatus(DocumentReference.ReferredDocumentStatus.PRELIMINARY)
        .setType(new CodeableConcept(new Coding("http://loinc.org", "34133-9", "Summary of episode note")))
        .setSubject(new Reference(patient))
        .setDate(new Date())
        .addAuthor(new Reference(deviceRef));
    document.getContext().addEncounter(new Reference(encounterRef));
    document.addContent().getAttachment().setContentType("text/markdown; charset=utf-8")
        .setData("Draft summary.".getBytes(StandardCharsets.UTF_8));
    label(document);
    String documentRef = add(tx, document);
    add(tx, aiProvenance(documentRef, deviceRef, encounterRef));

    DiagnosticReport report = new DiagnosticReport()
        .setStatus(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY)
        .setCode(new CodeableConcept(new Coding("http://loinc.org", "18748-4", "Diagnostic imaging study")))
        .setSubject(new Reference(patient))
        .addImagingStudy(new Reference(studyRef))
        .setConclusion("Draft impression.");
    report.addPresentedForm().setContentType("text/markdown; charset=utf-8")
        .setData("Draft report.".getBytes(StandardCharsets.UTF_8));
    label(report);
    String reportRef = add(tx, report);
    add(tx, aiProvenance(reportRef, deviceRef, studyRef));
    return tx;
  }

  static void label(Resource resource) {
    resource.getMeta().addSecurity(AIAST_SYSTEM, "AIAST", "Artificial Intelligence asserted");
  }

  private static Provenance aiProvenance(String target, String device, String source) {
    Provenance provenance = new Provenance().addTarget(new Reference(target)).setRecorded(new Date());
    provenance.getMeta().addProfile(AI_PROVENANCE);
    label(provenance);
    provenance.addAgent()
        .setType(new CodeableConcept(new Coding(
            "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "author", "Author")))
        .setWho(new Reference(device));
    provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.SOURCE).setWhat(new Reference(source));
    return provenance;
  }

  private static String add(Bundle tx, Resource resource) {
    String fullUrl = "urn:uuid:" + UUID.randomUUID();
    tx.addEntry().setFullUrl(fullUrl).setResource(resource)
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl(resource.fhirType());
    return fullUrl;
  }
}
