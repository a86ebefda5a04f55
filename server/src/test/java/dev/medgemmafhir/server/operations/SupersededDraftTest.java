package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/** A new summary of the same kind for an encounter replaces the unverified one before it. */
class SupersededDraftTest extends AiOperationsServer {

  void observe(String patient, String encounter, String what, double value) {
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter));
    o.getCode().setText(what);
    o.setValue(new org.hl7.fhir.r4.model.Quantity(value));
    client.create().resource(o).execute();
  }

  @Test
  void aNewerDraftMarksTheOlderUnverifiedOneSupersededAndSaysItReplacesIt() throws Exception {
    String patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.INPROGRESS).setSubject(new Reference(patient));
    e.getClass_().setCode("IMP");
    String encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    observe(patient, encounter, "Heart rate", 88);
    String model = register("superseding", ScriptedEngine.textOnly("superseding", request -> "Stable [C1]."));

    HttpResponse<String> first = post("/" + encounter + "/$summarize", SummarizeOperationTest.params("model",
        "valueString", model));
    assertThat(first.statusCode()).as(first.body()).isEqualTo(200);
    String older = "DocumentReference/" + parse(first, DocumentReference.class).getIdElement().getIdPart();

    // New facts: a different draft, which replaces the first.
    observe(patient, encounter, "Heart rate", 120);
    HttpResponse<String> second = post("/" + encounter + "/$summarize", SummarizeOperationTest.params("model",
        "valueString", model));
    assertThat(second.statusCode()).as(second.body()).isEqualTo(200);
    DocumentReference newer = parse(second, DocumentReference.class);
    // "Sources" spells out the fact the model was shown, not only its reference.
    assertThat(new String(newer.getContentFirstRep().getAttachment().getData(), java.nio.charset.StandardCharsets.UTF_8))
        .containsPattern("\\*\\*Sources\\*\\*\\n\\n- \\[C1\\] Encounter: .*status in-progress.* \\(" + encounter + "/_history/1\\)");
    assertThat(newer.getStatus()).isEqualTo(Enumerations.DocumentReferenceStatus.CURRENT);
    assertThat(newer.getRelatesTo()).singleElement().satisfies(r -> {
      assertThat(r.getCode()).isEqualTo(DocumentReference.DocumentRelationshipType.REPLACES);
      assertThat(r.getTarget().getReference()).isEqualTo(older);
    });
    DocumentReference old = client.read().resource(DocumentReference.class).withId(older).execute();
    assertThat(old.getStatus()).isEqualTo(Enumerations.DocumentReferenceStatus.SUPERSEDED);
    assertThat(old.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(old.getMeta().getSecurity()).anyMatch(c -> "AIAST".equals(c.getCode()));

    // Another style is another kind of document: it replaces nothing.
    HttpResponse<String> discharge = post("/" + encounter + "/$summarize", SummarizeOperationTest.params("model",
        "valueString", model, "style", "valueCode", "discharge"));
    assertThat(parse(discharge, DocumentReference.class).getRelatesTo()).isEmpty();
  }
}
