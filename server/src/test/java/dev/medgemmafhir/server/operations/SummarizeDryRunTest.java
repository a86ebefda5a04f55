package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.util.Map;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/** {@code dryRun=true} shows the exact prompt a summary would be written from, and runs and writes nothing. */
class SummarizeDryRunTest extends AiOperationsServer {

  @Test
  void aDryRunReturnsThePromptWithoutRunningTheModelOrWriting() throws Exception {
    String patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setCode("EMER");
    String encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter));
    o.getCode().setText("Oxygen saturation");
    o.setValue(new org.hl7.fhir.r4.model.Quantity(91).setUnit("%"));
    String observation = client.create().resource(o).execute().getId().toUnqualifiedVersionless().getValue();
    ScriptedEngine engine = ScriptedEngine.textOnly("dry", request -> "never");
    String model = register("dry", engine);
    Map<String, Integer> before = written();

    HttpResponse<String> response = post("/" + encounter + "/$summarize", SummarizeOperationTest.params(
        "model", "valueString", model, "dryRun", "valueBoolean", "true"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters preview = parse(response, Parameters.class);
    assertThat(preview.getParameter("system").getValue().primitiveValue()).contains("cite the facts");
    assertThat(preview.getParameter("user").getValue().primitiveValue()).contains("Oxygen saturation").contains("[C");
    assertThat(preview.getParameter("promptTokens").getValue().primitiveValue()).matches("[1-9]\\d*");
    assertThat(preview.getParameter().stream().filter(p -> p.getName().equals("citation")))
        .anySatisfy(c -> assertThat(((Reference) c.getPart().get(1).getValue()).getReference()).startsWith(observation));
    assertThat(engine.requests).isEmpty();
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void anEncountersContextLeavesOutWhatWasEnteredInErrorOrRefutedAndMarksWhatIsInactive() throws Exception {
    String patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.INPROGRESS).setSubject(new Reference(patient));
    e.getClass_().setCode("IMP");
    String encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    for (var status : java.util.List.of(Observation.ObservationStatus.FINAL, Observation.ObservationStatus.ENTEREDINERROR)) {
      Observation o = new Observation().setStatus(status).setSubject(new Reference(patient))
          .setEncounter(new Reference(encounter));
      o.getCode().setText(status == Observation.ObservationStatus.FINAL ? "Sodium" : "Potassium");
      o.setValue(new org.hl7.fhir.r4.model.Quantity(140));
      client.create().resource(o).execute();
    }
    for (String[] c : new String[][] {{"Pneumonia", "active", "refuted"}, {"Sepsis", "resolved", "confirmed"},
        {"Gout", "active", "entered-in-error"}}) {
      org.hl7.fhir.r4.model.Condition condition = new org.hl7.fhir.r4.model.Condition()
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter));
      condition.getCode().setText(c[0]);
      condition.getClinicalStatus().addCoding(new org.hl7.fhir.r4.model.Coding(
          "http://terminology.hl7.org/CodeSystem/condition-clinical", c[1], null));
      condition.getVerificationStatus().addCoding(new org.hl7.fhir.r4.model.Coding(
          "http://terminology.hl7.org/CodeSystem/condition-ver-status", c[2], null));
      client.create().resource(condition).execute();
    }
    String model = register("dry-status", ScriptedEngine.textOnly("dry-status", request -> "never"));

    HttpResponse<String> response = post("/" + encounter + "/$summarize", SummarizeOperationTest.params(
        "model", "valueString", model, "dryRun", "valueBoolean", "true"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    String user = parse(response, Parameters.class).getParameter("user").getValue().primitiveValue();
    assertThat(user).contains("Sodium").doesNotContain("Potassium")
        .doesNotContain("Pneumonia").doesNotContain("Gout")
        .containsPattern("Condition \\(resolved[^\\n]*Sepsis");
  }

  @org.springframework.beans.factory.annotation.Autowired ca.uhn.fhir.jpa.api.dao.DaoRegistry daos;

  @Test
  void aSiteAddsASectionToTheEncounterContext() {
    String patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setCode("AMB");
    String encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    org.hl7.fhir.r4.model.Immunization shot = new org.hl7.fhir.r4.model.Immunization()
        .setStatus(org.hl7.fhir.r4.model.Immunization.ImmunizationStatus.COMPLETED).setPatient(new Reference(patient))
        .setEncounter(new Reference(encounter));
    shot.getVaccineCode().setText("Influenza vaccine");
    client.create().resource(shot).execute();

    var defaults = dev.medgemmafhir.operations.context.EncounterSections.defaults();
    var site = new java.util.ArrayList<>(defaults);
    site.add(dev.medgemmafhir.operations.context.EncounterSections.of(org.hl7.fhir.r4.model.Immunization.class,
        dev.medgemmafhir.operations.context.EncounterSection.Link.PATIENT, "patient", (i, span) ->
            java.util.Optional.of(new dev.medgemmafhir.operations.context.ClinicalFact(
                dev.medgemmafhir.operations.context.ClinicalFact.Section.IMMUNIZATION,
                dev.medgemmafhir.operations.context.FactText.versioned(i), null,
                "Vaccine given: " + i.getVaccineCode().getText()))));
    var request = new ca.uhn.fhir.rest.api.server.SystemRequestDetails();
    var id = new org.hl7.fhir.r4.model.IdType(encounter);
    assertThat(new dev.medgemmafhir.operations.context.JpaEncounterContext(daos, defaults).gather(id, request).facts())
        .noneMatch(f -> f.text().contains("Influenza"));
    assertThat(new dev.medgemmafhir.operations.context.JpaEncounterContext(daos, site).gather(id, request).facts())
        .anyMatch(f -> f.text().equals("Vaccine given: Influenza vaccine"));
  }
}
