package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every input gets a clear answer: what the operations do not define is a 400, not silently ignored. */
class OperationParametersTest extends AiOperationsServer {

  String encounter;

  @BeforeAll
  void anEncounterWithAFact() {
    String patient = client.create().resource(new Patient().setGender(org.hl7.fhir.r4.model.Enumerations.AdministrativeGender.MALE))
        .execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setSystem("http://terminology.hl7.org/CodeSystem/v3-ActCode").setCode("AMB");
    encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter));
    o.getCode().setText("Heart rate");
    o.setValue(new org.hl7.fhir.r4.model.Quantity(72).setUnit("/min"));
    client.create().resource(o).execute();
  }

  HttpResponse<String> postJson(String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base() + path)).header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void badParametersAre400sThatNameTheProblemAndWriteNothing() throws Exception {
    Map<String, Integer> before = written();
    String summarize = "/" + encounter + "/$summarize";
    assertOutcome(postJson(summarize + "?maxTokens=abc", "{\"resourceType\":\"Parameters\"}"), 400,
        "maxTokens", "must be an integer", "abc");
    assertOutcome(post(summarize, SummarizeOperationTest.params("maxToken", "valueInteger", "4")), 400,
        "Unknown parameter 'maxToken'", "maxTokens");
    assertOutcome(post(summarize + "?colour=blue", new Parameters()), 400, "Unknown parameter 'colour'");
    assertOutcome(post(summarize, SummarizeOperationTest.params("style", "valueCode", "brief", "style", "valueCode",
        "discharge")), 400, "'style'", "2 times");
    assertOutcome(postJson(summarize + "?maxTokens=4", "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"
        + "\"maxTokens\",\"valueInteger\":5}]}"), 400, "'maxTokens'", "2 times");
    assertOutcome(postJson(summarize, "{\"resourceType\":\"Patient\",\"gender\":\"male\"}"), 400,
        "must be a Parameters resource, not Patient");
    assertOutcome(postJson(summarize, "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":"), 400,
        "not a valid FHIR resource");
    assertOutcome(post("/ImagingStudy/any/$draft-report", SummarizeOperationTest.params("maxImage", "valueInteger", "2")),
        400, "Unknown parameter 'maxImage'", "maxImages");
    assertThat(written()).isEqualTo(before);

    // $verify (DocumentReference and DiagnosticReport each define their own parameters) checks them too.
    assertOutcome(post("/DocumentReference/any/$verify", SummarizeOperationTest.params("decison", "valueCode",
        "accept")), 400, "Unknown parameter 'decison'", "decision");
    assertOutcome(post("/DocumentReference/any/$verify", SummarizeOperationTest.params("conclusion", "valueString",
        "x")), 400, "Unknown parameter 'conclusion'");
    assertOutcome(post("/DiagnosticReport/any/$verify", SummarizeOperationTest.params("decision", "valueCode",
        "accept", "decision", "valueCode", "reject")), 400, "'decision'", "2 times");

    // The statuses the README gives for the wrong method and for an unknown resource type.
    assertThat(get("/fhir/" + encounter + "/$summarize").statusCode()).isEqualTo(405);
    assertThat(get("/fhir/Foo/1").statusCode()).isEqualTo(404);
    assertThat(get("/fhir/Encounter/does-not-exist").statusCode()).isEqualTo(404);

    // The same request, spelt right, runs.
    HttpResponse<String> ok = postJson(summarize + "?maxTokens=4", "{\"resourceType\":\"Parameters\"}");
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
  }
}
