package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ResourceGoneException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import java.util.List;
import java.util.Set;
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

  /**
   * Whether the stored resource lies in some patient's compartment but not in this one's (a
   * reference to it would tie the patient's record to another patient's). A resource that does
   * not exist is not another patient's: HAPI refuses references to it on its own.
   */
  public boolean belongsToAnotherPatient(IIdType resource, IIdType patient) {
    IIdType id = resource.toUnqualifiedVersionless();
    if ("Patient".equals(id.getResourceType())) {
      return !id.getIdPart().equals(patient.getIdPart());
    }
    if (fhir.getResourceDefinition(id.getResourceType()).getSearchParamsForCompartmentName("Patient").isEmpty()) {
      return false;
    }
    IBaseResource stored;
    try {
      stored = daos.getResourceDao(id.getResourceType()).read(id, new SystemRequestDetails());
    } catch (ResourceNotFoundException | ResourceGoneException e) {
      return false;
    }
    List<IIdType> owners = fhir.newTerser().getCompartmentOwnersForResource("Patient", stored, Set.of());
    return !owners.isEmpty() && owners.stream().noneMatch(o -> patient.getIdPart().equals(o.getIdPart()));
  }
}
