package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import dev.medgemmafhir.engine.EngineException;
import java.net.http.HttpResponse;
import java.util.Map;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;

/** A failed {@code $summarize} writes nothing: no DocumentReference, no Provenance, no Device. */
class SummarizeFailureTest extends AiOperationsServer {

  @Autowired IInterceptorService interceptors;
  String encounter;

  @BeforeAll
  void createEncounter() {
    String patient = "Patient/" + client.create().resource(new Patient().setActive(true)).execute().getId().getIdPart();
    encounter = "Encounter/" + client.create().resource(new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setSubject(new Reference(patient))).execute().getId().getIdPart();
    client.create().resource(new Condition().setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
        .setCode(new CodeableConcept().addCoding(new Coding("http://snomed.info/sct", "44054006", "Diabetes"))))
        .execute();
  }

  static Parameters model(String id) {
    Parameters parameters = new Parameters();
    parameters.addParameter("model", new StringType(id));
    return parameters;
  }

  @Test
  void anEngineFailureWritesNothing() throws Exception {
    String model = register("summary-engine-failure", ScriptedEngine.textOnly("summary-engine-failure", request -> {
      throw new EngineException("ONNX Runtime failed in the decoder");
    }));
    Map<String, Integer> before = written();
    assertOutcome(post("/" + encounter + "/$summarize", model(model)), 500, "Generation failed");
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("summary-engine-failure")).isZero();
  }

  @Test
  void aFailedDatabaseWriteWritesNothing() throws Exception {
    String model = register("summary-db-failure", ScriptedEngine.textOnly("summary-db-failure",
        request -> "- Diabetes [C3]"));
    Map<String, Integer> before = written();
    FailingProvenanceWrite failure = new FailingProvenanceWrite();
    interceptors.registerInterceptor(failure);
    try {
      HttpResponse<String> response = post("/" + encounter + "/$summarize", model(model));
      assertThat(response.statusCode()).as(response.body()).isGreaterThanOrEqualTo(500);
      assertThat(failure.calls.get()).as("the Provenance write was attempted").isPositive();
    } finally {
      interceptors.unregisterInterceptor(failure);
    }
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("summary-db-failure")).isZero();

    HttpResponse<String> retry = post("/" + encounter + "/$summarize", model(model));
    assertThat(retry.statusCode()).as(retry.body()).isEqualTo(200);
    assertThat(devicesFor("summary-db-failure")).isOne();
    // The draft, its stored prompt and the new model's card (AI Transparency on FHIR).
    assertThat(written()).containsEntry("DocumentReference", before.get("DocumentReference") + 3)
        .containsEntry("Provenance", before.get("Provenance") + 1).containsEntry("Device", before.get("Device") + 1);
  }
}
