package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.instance.model.api.IIdType;

/** Reads the resource through the JPA DAOs and applies FHIR's Patient compartment definition. */
public class DaoPatientCompartment implements PatientCompartment {

  private final DaoRegistry daos;
  private final FhirContext fhir;

  public DaoPatientCompartment(DaoRegistry daos, FhirContext fhir) {
    this.daos = daos;
    this.fhir = fhir;
  }

  @Override
  public boolean contains(IIdType resource, IIdType patient) {
    IIdType id = resource.toUnqualifiedVersionless();
    if ("Patient".equals(id.getResourceType())) {
      return id.getIdPart().equals(patient.getIdPart());
    }
    IBaseResource stored = daos.getResourceDao(id.getResourceType()).read(id, new SystemRequestDetails());
    return fhir.newTerser().isSourceInCompartmentForTarget("Patient", stored, patient.toUnqualifiedVersionless());
  }
}
