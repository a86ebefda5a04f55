package dev.medgemmafhir.interceptors.smart;

import org.hl7.fhir.instance.model.api.IIdType;

/** Answers whether a stored resource belongs to a patient's compartment (used for operations). */
@FunctionalInterface
public interface PatientCompartment {

  /**
   * @param resource a stored resource, {@code Type/id}
   * @param patient {@code Patient/id}
   * @return whether the resource is in that patient's compartment; throws HAPI's
   *     ResourceNotFoundException when the resource does not exist
   */
  boolean contains(IIdType resource, IIdType patient);
}
