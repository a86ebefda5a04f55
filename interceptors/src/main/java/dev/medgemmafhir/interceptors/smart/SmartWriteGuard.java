package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import java.util.Optional;
import org.hl7.fhir.instance.model.api.IBaseReference;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.instance.model.api.IIdType;

/**
 * Checks every resource a token's request is about to store, however it gets there (POST, PUT,
 * PATCH, conditional update, transaction or batch entry); HAPI calls these hooks inside the
 * write's database transaction, so a refusal (403) writes nothing.
 *
 * <ul>
 *   <li>Creating needs {@code c}: HAPI's write rule covers create and update alike, so a PUT to a
 *       new id, a conditional update that matches nothing, or a POST inside a bundle would
 *       otherwise create with {@code u} alone.
 *   <li>A write allowed only by a {@code patient/} scope may reference no Patient but the token's
 *       own, and no resource in another patient's compartment (HAPI's compartment rule is
 *       satisfied by any one reference to the patient, e.g. {@code subject}, and ignores a second
 *       one such as {@code performer: Patient/B}).
 * </ul>
 * Internal writes (the operations, {@code $verify}, audit) carry no token and are not checked here.
 */
@Interceptor
public class SmartWriteGuard {

  private final DaoPatientCompartment compartment;

  public SmartWriteGuard(DaoPatientCompartment compartment) {
    this.compartment = compartment;
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_CREATED)
  public void creating(IBaseResource resource, RequestDetails request) {
    Optional<SmartPrincipal> found = SmartPrincipal.of(request);
    if (found.isEmpty()) {
      return;
    }
    SmartPrincipal principal = found.get();
    String type = request.getFhirContext().getResourceType(resource);
    if (!principal.grantsWithoutCompartment(type, 'c') && !principal.grantsInPatientCompartment(type, 'c')) {
      throw new ForbiddenOperationException("Creating " + type + " needs " + type + ".c (this request would "
          + "create it: a new id, or a conditional update that matched nothing)");
    }
    checkReferences(principal, type, 'c', resource, request);
  }

  @Hook(Pointcut.STORAGE_PRESTORAGE_RESOURCE_UPDATED)
  public void updating(IBaseResource previous, IBaseResource updated, RequestDetails request) {
    Optional<SmartPrincipal> principal = SmartPrincipal.of(request);
    if (principal.isPresent()) {
      checkReferences(principal.get(), request.getFhirContext().getResourceType(updated), 'u', updated, request);
    }
  }

  private void checkReferences(
      SmartPrincipal principal, String type, char letter, IBaseResource resource, RequestDetails request) {
    if (principal.patient() == null || principal.grantsWithoutCompartment(type, letter)) {
      return;
    }
    IIdType patient = principal.patientId();
    for (IBaseReference reference : request.getFhirContext().newTerser()
        .getAllPopulatedChildElementsOfType(resource, IBaseReference.class)) {
      IIdType target = reference.getReferenceElement();
      if (target == null || target.isEmpty() || target.isLocal() || !target.hasResourceType() || !target.hasIdPart()
          || !request.getFhirContext().getResourceTypes().contains(target.getResourceType())) {
        continue;
      }
      boolean foreign = "Patient".equals(target.getResourceType())
          ? !target.getIdPart().equals(patient.getIdPart())
          : !target.isAbsolute() && compartment.belongsToAnotherPatient(target, patient);
      if (foreign) {
        throw new ForbiddenOperationException("A patient/ scope writes only into its own patient's record: "
            + target.toUnqualifiedVersionless().getValue() + " is not in the compartment of the token's patient");
      }
    }
  }
}
