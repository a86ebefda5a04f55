package dev.medgemmafhir.operations.context;

import ca.uhn.fhir.rest.api.server.RequestDetails;
import org.hl7.fhir.r4.model.IdType;

/**
 * Which facts make up an encounter's context. A deployment replaces this to change what a
 * summary may draw on (another resource type, a site-specific note type, a longer look-back).
 */
public interface EncounterContextStrategy {

  /**
   * Reads the encounter and its related facts.
   *
   * @throws ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException the encounter does not exist
   */
  EncounterContext gather(IdType encounterId, RequestDetails request);
}
