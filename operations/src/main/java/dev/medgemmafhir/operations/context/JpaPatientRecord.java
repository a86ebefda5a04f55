package dev.medgemmafhir.operations.context;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.ReferenceParam;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Resource;

/**
 * Reads a patient's record section by section through the JPA DAOs. The patient is read with the
 * caller's request, so the server's access rules decide whether the caller may ask about them at all;
 * the sections are then searched as the system, as {@link JpaEncounterContext} does (the operation's
 * scope policy is what grants reading the record).
 */
public final class JpaPatientRecord {

  private final DaoRegistry daos;
  private final List<RecordSection> sections;

  public JpaPatientRecord(DaoRegistry daos, List<RecordSection> sections) {
    this.daos = daos;
    this.sections = List.copyOf(sections);
  }

  /** @throws ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException the patient does not exist */
  public PatientRecord gather(IdType patientId, RequestDetails caller) {
    Patient patient = daos.getResourceDao(Patient.class).read(patientId.toUnqualifiedVersionless(), caller);
    String patientRef = "Patient/" + patient.getIdElement().getIdPart();
    List<ClinicalFact> facts = new ArrayList<>();
    int leftOut = 0;
    for (RecordSection section : sections) {
      SearchParameterMap map = SearchParameterMap.newSynchronous()
          .add(section.patientParameter(), new ReferenceParam(patientRef));
      map.setLoadSynchronousUpTo(JpaEncounterContext.MAX_PER_SEARCH);
      for (IBaseResource found : daos.getResourceDao(section.resourceType()).search(map, new SystemRequestDetails())
          .getResources(0, JpaEncounterContext.MAX_PER_SEARCH)) {
        if (FactText.isAiWritten((Resource) found)) {
          continue; // this server's own drafts are no input, and no record left out either
        }
        Optional<ClinicalFact> fact = section.fact((Resource) found);
        if (fact.isPresent()) {
          facts.add(fact.get());
        } else {
          leftOut++;
        }
      }
    }
    return new PatientRecord(patient, facts, leftOut);
  }
}
