package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.rest.api.CacheControlDirective;
import dev.medgemmafhir.server.SyntheaFixtures;
import java.net.http.HttpResponse;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Base;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Type;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A summary is written from the facts as they stood at the encounter: on a Synthea patient whose
 * history runs from 1966 to 2026, encounters fifty years apart get no fact dated after their end,
 * background problems are those active then, and the encounter's own facts come first.
 */
class SummarizeAsOfEncounterTest extends AiOperationsServer {

  static final Pattern DATE = Pattern.compile("\\b(\\d{4}-\\d{2}-\\d{2})\\b");

  String patientId;
  final List<Encounter> encounters = new ArrayList<>();

  @BeforeAll
  void loadPatientWithAFiftyYearHistory() {
    Bundle response = SyntheaFixtures.loadPatient(client, SyntheaFixtures.PATIENTS.get(0));
    patientId = new IdType(response.getEntryFirstRep().getResponse().getLocation()).getIdPart();
    client.search().forResource(Encounter.class).where(Encounter.PATIENT.hasId(patientId)).count(200)
        .returnBundle(Bundle.class).execute().getEntry().forEach(e -> encounters.add((Encounter) e.getResource()));
  }

  Encounter encounterStarting(String date) {
    return encounters.stream().filter(e -> FhirDates.day(e.getPeriod().getStart()).equals(date)).findFirst().orElseThrow();
  }

  @Test
  void encountersDecadesApartSeeOnlyWhatWasKnownAtTheirEndAndTheirOwnFactsFirst() throws Exception {
    for (String day : List.of("1976-10-08", "2006-09-08", "2025-01-10")) {
      Encounter encounter = encounterStarting(day);
      Instant end = encounter.getPeriod().getEnd().toInstant();
      ScriptedEngine engine = ScriptedEngine.images("asof-" + day, 200_000, 10, request -> "Summary [C1].");
      String model = register("asof-" + day, engine);
      HttpResponse<String> response = post("/Encounter/" + encounter.getIdElement().getIdPart() + "/$summarize",
          SummarizeOperationTest.params("model", "valueString", model));
      assertThat(response.statusCode()).as(response.body()).isEqualTo(200);

      // No date in the prompt lies after the encounter's end (a later diagnosis, resolution or death).
      Matcher dates = DATE.matcher(engine.lastPromptText());
      while (dates.find()) {
        assertThat(dates.group(1)).as("a date in the prompt of the %s encounter", day)
            .isLessThanOrEqualTo(FhirDates.day(Date.from(end)));
      }

      List<IBaseResource> seen = inputsSeen(parse(response, DocumentReference.class));
      for (IBaseResource input : seen) {
        for (Instant date : FhirDates.of(input)) {
          assertThat(date).as("%s in the summary of the %s encounter", input.getIdElement().getValue(), day)
              .isBeforeOrEqualTo(end);
        }
      }
      // The encounter's own facts, then the background: never a background fact before one of the encounter's.
      List<Boolean> own = seen.stream().map(r -> ofEncounter(r, encounter)).toList();
      assertThat(own.indexOf(false)).as("first background fact of the %s encounter", day).isPositive();
      assertThat(own.subList(own.indexOf(false), own.size())).as("order of the %s encounter's facts", day)
          .containsOnly(false);
    }
    // Background as of 1976: the prediabetes diagnosed in 1973 is there, the 2020 Alzheimer's disease is not.
    ScriptedEngine engine = (ScriptedEngine) catalog.require("asof-1976-10-08").engine();
    assertThat(engine.lastPromptText()).contains("Prediabetes").doesNotContain("Alzheimer");
    // As of January 2025, stress (resolved in 2026) was active; the sprain of a week later had not happened.
    String prompt2025 = ((ScriptedEngine) catalog.require("asof-2025-01-10").engine()).lastPromptText();
    assertThat(prompt2025).contains("Stress").doesNotContain("Sprain").doesNotContain("2026");
  }

  @Test
  void whenTheContextIsTightTheEncountersOwnObservationsWinOverTheBackground() throws Exception {
    Encounter encounter = encounterStarting("2024-12-27");
    ScriptedEngine engine = ScriptedEngine.images("asof-tight", 600, 10, request -> "Summary [C1].");
    String model = register("asof-tight", engine);
    HttpResponse<String> response = post("/Encounter/" + encounter.getIdElement().getIdPart() + "/$summarize",
        SummarizeOperationTest.params("model", "valueString", model));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference draft = parse(response, DocumentReference.class);
    Extension summary = draft.getExtensionByUrl(dev.medgemmafhir.vocabulary.AiVocabulary.CONTEXT_EXTENSION);
    assertThat(((IntegerType) summary.getExtensionByUrl("factsOmitted").getValue()).getValue()).isPositive();

    List<IBaseResource> seen = inputsSeen(draft);
    assertThat(seen).hasSizeGreaterThan(4);
    assertThat(seen).allSatisfy(r -> assertThat(ofEncounter(r, encounter)).as(r.getIdElement().getValue()).isTrue());
    assertThat(seen).anySatisfy(r -> assertThat(r).isInstanceOf(Observation.class));
  }

  /** The resources the draft's Provenance lists, in prompt order. */
  List<IBaseResource> inputsSeen(DocumentReference draft) {
    Bundle provenances = client.search().forResource(Provenance.class)
        .where(Provenance.TARGET.hasId("DocumentReference/" + draft.getIdElement().getIdPart()))
        .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute();
    assertThat(provenances.getEntry()).hasSize(1);
    List<IBaseResource> seen = new ArrayList<>();
    for (Provenance.ProvenanceEntityComponent entity : ((Provenance) provenances.getEntryFirstRep().getResource()).getEntity()) {
      if (entity.getRole() != Provenance.ProvenanceEntityRole.SOURCE) {
        continue; // the model card and the prompt: not clinical facts
      }
      IdType id = new IdType(entity.getWhat().getReference());
      seen.add(client.read().resource(id.getResourceType()).withId(id).execute());
    }
    return seen;
  }

  /** The encounter itself, its patient, or a resource recorded in it. */
  static boolean ofEncounter(IBaseResource resource, Encounter encounter) {
    String id = encounter.getIdElement().getIdPart();
    if (resource instanceof Encounter e) {
      return e.getIdElement().getIdPart().equals(id);
    }
    if (resource instanceof org.hl7.fhir.r4.model.Patient) {
      return true;
    }
    for (String path : List.of("encounter", "context")) {
      Base base = (Base) resource;
      if (base.getNamedProperty(path) != null) {
        for (Base value : base.getNamedProperty(path).getValues()) {
          List<Base> refs = value instanceof Reference ? List.of(value) : value.listChildrenByName("encounter");
          for (Base ref : refs) {
            if (ref instanceof Reference r && ("Encounter/" + id).equals(r.getReferenceElement().toUnqualifiedVersionless().getValue())) {
              return true;
            }
          }
        }
      }
    }
    return false;
  }

  /** Dates that say when a fact happened or became known. */
  static final class FhirDates {

    static String day(Date date) {
      return date.toInstant().toString().substring(0, 10);
    }

    static List<Instant> of(IBaseResource resource) {
      List<Instant> dates = new ArrayList<>();
      if (resource instanceof Condition c) {
        add(dates, c.getOnset());
        add(dates, c.getRecordedDate());
      } else if (resource instanceof Observation o) {
        add(dates, o.getEffective());
      } else if (resource instanceof MedicationRequest m) {
        add(dates, m.getAuthoredOn());
      } else if (resource instanceof Procedure p) {
        add(dates, p.getPerformed());
      } else if (resource instanceof DiagnosticReport r) {
        add(dates, r.getEffective());
      } else if (resource instanceof DocumentReference d) {
        add(dates, d.getDate());
      } else if (resource instanceof AllergyIntolerance a) {
        add(dates, a.getRecordedDate());
      }
      return dates;
    }

    private static void add(List<Instant> dates, Object value) {
      if (value instanceof Date d) {
        dates.add(d.toInstant());
      } else if (value instanceof DateTimeType dt && dt.getValue() != null) {
        dates.add(dt.getValue().toInstant());
      } else if (value instanceof Period p && p.getStart() != null) {
        dates.add(p.getStart().toInstant());
      } else if (value instanceof Type) {
        // ages, strings: no date
      }
    }
  }
}
