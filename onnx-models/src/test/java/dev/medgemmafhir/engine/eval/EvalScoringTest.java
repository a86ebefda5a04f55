package dev.medgemmafhir.engine.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The eval's scoring rules on hand-made inputs whose right answers are known. */
class EvalScoringTest {

    static final ObjectMapper JSON = new ObjectMapper();

    static final String SUMMARY = """
            Blood pressure was 120 mmHg on 2019-03-04 [C1]. Glucose was 250 mg/dL [C2]. \
            The patient has Hypertension [C1]. Started on Lisinopril 10 mg daily. The patient was comfortable.

            ---

            **Sources**

            - [C1] Observation: Systolic blood pressure 120 mm[Hg] on 2019-03-04, Condition: Hypertension (Observation/1/_history/1)
            - [C2] Observation: Glucose 98 mg/dL on 2019-03-04 (Observation/2/_history/1)
            """;

    @Test
    void citedSentencesAreCheckedAgainstTheirFacts() {
        Faithfulness.Result result = Faithfulness.check(SUMMARY, List.of("Hypertension", "Lisinopril 10 MG Oral Tablet", "Lisinopril"));
        List<Faithfulness.Sentence> s = result.sentences();
        assertEquals(5, s.size(), s.toString());
        // "120 mmHg" vs the fact's UCUM "120 mm[Hg]": the same unit, spelled two ways.
        assertEquals(Faithfulness.Kind.SUPPORTED, s.get(0).kind(), s.get(0).toString());
        assertEquals(Faithfulness.Kind.UNSUPPORTED, s.get(1).kind(), "250 is not the cited 98");
        assertEquals(Faithfulness.Kind.SUPPORTED, s.get(2).kind());
        assertEquals(Faithfulness.Kind.UNCITED_FACTUAL, s.get(3).kind());
        assertEquals(Faithfulness.Kind.UNCITED_OTHER, s.get(4).kind());
        assertEquals(3, result.cited());
        assertEquals(2, result.count(Faithfulness.Kind.SUPPORTED));
        String supported = "Systolic pressure 120 mm[Hg] on 2019-03-04 [C1].\n\n---\n\n**Sources**\n\n- [C1] Systolic blood pressure 120 mm[Hg] on 2019-03-04 (Observation/1/_history/1)\n";
        assertEquals(1, Faithfulness.check(supported, List.of()).count(Faithfulness.Kind.SUPPORTED));
        // A citation of a key the Sources list lacks supports nothing.
        assertEquals(Faithfulness.Kind.UNSUPPORTED, Faithfulness.check("Pulse 80 /min [C9].", List.of()).sentences().get(0).kind());
    }

    /** One cited sentence against one fact. */
    static Faithfulness.Kind verdict(String sentence, String fact) {
        return Faithfulness.check(sentence + " [C1].\n\n---\n\n**Sources**\n\n- [C1] " + fact + " (Observation/1/_history/1)\n",
                List.of()).sentences().get(0).kind();
    }

    @Test
    void commonUcumSpellingsOfAUnitMeetTheEverydayOnes() {
        Faithfulness.Kind supported = Faithfulness.Kind.SUPPORTED;
        assertEquals(supported, verdict("Blood pressure 128/82 mmHg", "Blood pressure 128/82 mm[Hg]"));
        assertEquals(supported, verdict("Systolic 128 mm Hg", "Systolic blood pressure 128 mm[Hg]"));
        assertEquals(supported, verdict("Heart rate 72 bpm", "Heart rate 72 /min"));
        assertEquals(supported, verdict("Respiratory rate 16 breaths/min", "Respiratory rate 16 /min"));
        assertEquals(supported, verdict("Pulse 72 beats per minute", "Heart rate 72 {beats}/min"));
        assertEquals(supported, verdict("BMI 31.2 kg/m²", "Body mass index 31.2 kg/m2"));
        assertEquals(supported, verdict("BMI 31.2 kg/m^2", "Body mass index 31.2 kg/m2"));
        assertEquals(supported, verdict("HbA1c 6.1%", "Hemoglobin A1c 6.1 %"));
        assertEquals(supported, verdict("HbA1c 6.1 percent", "Hemoglobin A1c 6.1 %"));
        assertEquals(supported, verdict("Temperature 98.6 °F", "Body temperature 98.6 [degF]"));
        assertEquals(supported, verdict("Temperature 37.2 °C", "Body temperature 37.2 Cel"));
        assertEquals(supported, verdict("Glucose 98 mg/dl", "Glucose 98 mg/dL"));
        assertEquals(supported, verdict("Weight 154 lbs", "Body weight 154 [lb_av]"));
        assertEquals(supported, verdict("Platelets 250 x10^3/uL", "Platelets 250 10*3/uL"));
        assertEquals(supported, verdict("Vitamin B12 500 mcg", "Cyanocobalamin 500 ug"));
        // A different unit, or a different number with the right unit, is still not supported.
        Faithfulness.Kind unsupported = Faithfulness.Kind.UNSUPPORTED;
        assertEquals(unsupported, verdict("Temperature 37.2 °F", "Body temperature 37.2 Cel"));
        assertEquals(unsupported, verdict("Heart rate 72 mmHg", "Heart rate 72 /min"));
        assertEquals(unsupported, verdict("Blood pressure 138 mmHg", "Systolic blood pressure 128 mm[Hg]"));
        assertEquals(unsupported, verdict("Glucose 98 mg/dL", "Glucose 98 mmol/L"));
        // Only units after a number are rewritten: "Cells" is not Celsius.
        assertEquals("12 Cel and Cells", UnitSpellings.canonical("12 cel and Cells"));
        assertEquals("120 mmHg", UnitSpellings.canonical("120mm[Hg]"));
    }

    @Test
    void findingsAreLabelledWithNegationAndReportsCompared() {
        Map<String, Findings.Label> labels = Findings.label("Small left pleural effusion. No pneumothorax. Heart size normal, no cardiomegaly.");
        assertEquals(Findings.Label.PRESENT, labels.get("pleural effusion"));
        assertEquals(Findings.Label.ABSENT, labels.get("pneumothorax"));
        assertEquals(Findings.Label.ABSENT, labels.get("cardiomegaly"));
        assertEquals(Findings.Label.NOT_MENTIONED, labels.get("fracture"));
        assertEquals(13, labels.size());
        assertEquals(1.0, Findings.agreement("No pneumothorax.", "There is no pneumothorax."));
        assertEquals(12.0 / 13, Findings.agreement("No pneumothorax.", "Large pneumothorax."), 1e-9);
        assertEquals(1.0, Findings.rougeL("no acute findings", "No acute findings."), 1e-9);
        assertEquals(0.0, Findings.rougeL("no acute findings", "pneumothorax"), 1e-9);
        // LCS "the heart normal" = 3 of 4 and 3 of 5 words.
        assertEquals(2 * 0.6 * 0.75 / 1.35, Findings.rougeL("the heart is normal", "the heart size looks normal"), 1e-9);
    }

    @Test
    void recordQuestionsHaveKnownAnswersAndAreScored() throws Exception {
        JsonNode obs = JSON.readTree("""
                {"entry":[{"resource":{"code":{"text":"Hemoglobin A1c"},"valueQuantity":{"value":6.30,"unit":"%"},"effectiveDateTime":"2020-01-01"}},
                          {"resource":{"code":{"text":"Glucose"},"valueQuantity":{"value":99,"unit":"mg/dL"},"effectiveDateTime":"2021-05-01"}}]}""");
        JsonNode meds = JSON.readTree("""
                {"entry":[{"resource":{"status":"active","medicationCodeableConcept":{"text":"Metformin 500 MG"}}},
                          {"resource":{"status":"stopped","medicationCodeableConcept":{"text":"Aspirin"}}}]}""");
        JsonNode none = JSON.readTree("{}");
        JsonNode procs = JSON.readTree("""
                {"entry":[{"resource":{"code":{"coding":[{"display":"Appendectomy"}]},"performedPeriod":{"start":"2010-02-03T10:00:00Z"}}}]}""");
        List<RecordQuestions.Question> q = RecordQuestions.from(obs, meds, none, procs);
        assertEquals(List.of("latest lab value", "active medications", "procedure date"), q.stream().map(RecordQuestions.Question::kind).toList());
        assertTrue(q.get(0).text().contains("Glucose"));
        assertEquals(1, RecordQuestions.score(q.get(0), "The latest glucose was 99.0 mg/dL."));
        assertEquals(0, RecordQuestions.score(q.get(0), "It was 6.3 %."));
        assertEquals(1, RecordQuestions.score(q.get(1), "metformin 500 mg daily"));
        assertEquals(0, RecordQuestions.score(q.get(1), "Aspirin"));
        assertEquals(1, RecordQuestions.score(q.get(2), "on 2010-02-03"));
        assertEquals(0, RecordQuestions.score(q.get(2), null));
    }

    @Test
    void groupsComeFromThePatientAndTheReportSaysWhatTheNumbersAre(@TempDir Path dir) throws Exception {
        JsonNode patient = JSON.readTree("""
                {"gender":"female","birthDate":"1950-06-01","extension":[
                 {"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-race","extension":[{"url":"ombCategory","valueCoding":{"code":"2106-3","display":"White"}}]},
                 {"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity","extension":[{"url":"text","valueString":"Not Hispanic or Latino"}]}]}""");
        Demographics d = Demographics.of(patient, LocalDate.of(2000, 1, 1));
        assertEquals(new Demographics("female", "40-64", "White", "Not Hispanic or Latino"), d);
        assertEquals("65+", Demographics.of(patient, LocalDate.of(2020, 1, 1)).ageBand());
        assertEquals(Demographics.UNKNOWN.race(), Demographics.of(JSON.readTree("{}"), null).race());

        Scores scores = new Scores("accuracy", "share right");
        scores.add(1, d);
        scores.add(0, d);
        scores.add(1, Demographics.UNKNOWN);
        assertEquals(3, scores.overall().n());
        assertEquals(2.0 / 3, scores.overall().mean(), 1e-9);
        assertEquals(2, scores.byGroup().get("sex").get("female").n());
        assertEquals(0.5, scores.byGroup().get("sex").get("female").mean(), 1e-9);
        assertEquals(1, scores.byGroup().get("race").get("unknown").n());

        var report = EvalReport.json("http://127.0.0.1/fhir", List.of("Forged tiny text model"), List.of(scores), List.of("x <skipped>"),
                Map.of("patients", 2));
        assertTrue(report.path("forgedWeights").asBoolean());
        assertTrue(report.path("caveat").asText().startsWith("FORGED WEIGHTS"));
        EvalReport.write(dir, report);
        String html = Files.readString(dir.resolve("report.html"));
        assertTrue(html.contains("<svg") && html.contains("female") && html.contains("n=2") && html.contains("noise"));
        assertTrue(html.contains("x &lt;skipped&gt;"));
        assertFalse(html.contains("http://") && html.contains("<script"), "nothing is loaded from the network");
        assertFalse(html.matches("(?s).*(src|href)=\"https?://.*"), "no external resources");
        assertFalse(EvalReport.json("s", List.of("MedGemma 4B IT"), List.of(), List.of(), Map.of()).path("forgedWeights").asBoolean());
        assertNull(MultipleChoice.choice("I think none", Map.of("A", "x", "B", "y")));
        assertEquals("B", MultipleChoice.choice("Answer: B. because", Map.of("A", "x", "B", "y")));
    }
}
