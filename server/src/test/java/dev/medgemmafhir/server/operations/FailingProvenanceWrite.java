package dev.medgemmafhir.server.operations;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import java.util.concurrent.atomic.AtomicInteger;
import org.hl7.fhir.instance.model.api.IBaseResource;

/** Makes the database write of any Provenance fail just before commit, as a lost connection would. */
@Interceptor
final class FailingProvenanceWrite {

  final AtomicInteger calls = new AtomicInteger();

  @Hook(Pointcut.STORAGE_PRECOMMIT_RESOURCE_CREATED)
  public void failProvenance(IBaseResource resource) {
    if ("Provenance".equals(resource.fhirType())) {
      calls.incrementAndGet();
      throw new IllegalStateException("simulated database failure while writing a Provenance");
    }
  }
}
