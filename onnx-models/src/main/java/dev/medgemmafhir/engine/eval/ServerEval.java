package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.replay.FhirRest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The evaluations that run through a FHIR server's operations, on the server's own patients: summary
 * faithfulness ({@code $summarize}), record QA ({@code $ask}) and radiology ({@code $draft-report} on
 * user-supplied studies with reference reports). Every call asks for an unsaved draft
 * ({@code persist=false}): an evaluation writes nothing into the record.
 */
public final class ServerEval {

    /** What to run. */
    public record Options(int maxPatients, int encountersPerPatient, Integer maxTokens, Path radiology) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final FhirRest fhir;
    private final Options options;
    final Scores supported = new Scores("summary supported rate",
            "per summary: cited sentences whose numbers, units, dates and coded terms all appear in the cited facts / cited sentences");
    final Scores unsupported = new Scores("summary unsupported rate",
            "per summary: cited sentences with a number, unit, date or coded term missing from the cited facts / cited sentences");
    final Scores uncitedFactual = new Scores("summary uncited-factual rate",
            "per summary: sentences without a citation that state a number, date or coded term / all sentences");
    final Scores recordQa = new Scores("record QA accuracy",
            "questions from the patient's record with known answers (latest lab value, active medications, allergies, procedure date), asked through $ask; numeric or exact match");
    final Scores rouge = new Scores("radiology ROUGE-L", "ROUGE-L F1 of the draft against the reference report");
    final Scores findingAgreement = new Scores("radiology finding agreement",
            "share of the 13 listed findings labelled the same (present / absent / not mentioned) in draft and reference");
    final List<String> skipped = new ArrayList<>();
    final Set<String> models = new LinkedHashSet<>();
    int summaries;
    int patientsSeen;
    int sentences;

    public ServerEval(FhirRest fhir, Options options) {
        this.fhir = fhir;
        this.options = options;
    }

    public void run() throws IOException {
        JsonNode patients = fhir.get("Patient?_count=" + options.maxPatients());
        boolean askAvailable = true;
        for (JsonNode entry : patients.path("entry")) {
            JsonNode patient = entry.path("resource");
            String id = "Patient/" + patient.path("id").asText();
            patientsSeen++;
            List<String> vocabulary = vocabulary(id);
            summarize(id, patient, vocabulary);
            if (askAvailable) {
                askAvailable = ask(id, patient);
            }
        }
        if (options.radiology() != null) {
            radiology(options.radiology());
        }
    }

    public List<Scores> metrics() {
        return List.of(supported, unsupported, uncitedFactual, recordQa, rouge, findingAgreement);
    }

    public List<String> skipped() {
        return List.copyOf(skipped);
    }

    public List<String> models() {
        return List.copyOf(models);
    }

    /** How much was evaluated. */
    public java.util.Map<String, Integer> counts() {
        java.util.Map<String, Integer> c = new java.util.LinkedHashMap<>();
        c.put("patients", patientsSeen);
        c.put("summaries", summaries);
        c.put("summary sentences", sentences);
        c.put("record questions", recordQa.count());
        c.put("radiology reports", rouge.count());
        return c;
    }

    private void summarize(String patientId, JsonNode patient, List<String> vocabulary) {
        JsonNode encounters = fhir.get("Encounter?patient=" + patientId + "&_sort=-date&_count=" + (options.encountersPerPatient() * 4));
        int done = 0;
        for (JsonNode e : encounters.path("entry")) {
            if (done >= options.encountersPerPatient()) {
                break;
            }
            JsonNode encounter = e.path("resource");
            String id = "Encounter/" + encounter.path("id").asText();
            ObjectNode params = parameters();
            addParameter(params, "persist", "valueBoolean", false);
            if (options.maxTokens() != null) {
                addParameter(params, "maxTokens", "valueInteger", options.maxTokens());
            }
            JsonNode draft;
            try {
                draft = fhir.post(id + "/$summarize", params);
            } catch (FhirRest.FhirException ex) {
                if (ex.status() == 422) {
                    continue; // nothing recorded in this encounter: try the next one
                }
                skipped.add("$summarize " + id + ": " + ex.getMessage());
                if (ex.status() == 404 || ex.status() == 400 && ex.getMessage().contains("Unknown operation")) {
                    return;
                }
                continue;
            }
            done++;
            summaries++;
            models.add(draft.path("author").path(0).path("display").asText("unknown model"));
            String markdown = FhirRest.attachmentText(draft.path("content").path(0).path("attachment"));
            LocalDate at = encounter.path("period").hasNonNull("start")
                    ? LocalDate.parse(encounter.path("period").path("start").asText().substring(0, 10)) : null;
            Demographics groups = Demographics.of(patient, at);
            Faithfulness.Result result = Faithfulness.check(markdown, vocabulary);
            sentences += result.sentences().size();
            if (result.cited() > 0) {
                supported.add((double) result.count(Faithfulness.Kind.SUPPORTED) / result.cited(), groups);
                unsupported.add((double) result.count(Faithfulness.Kind.UNSUPPORTED) / result.cited(), groups);
            }
            if (!result.sentences().isEmpty()) {
                uncitedFactual.add((double) result.count(Faithfulness.Kind.UNCITED_FACTUAL) / result.sentences().size(), groups);
            }
        }
    }

    /** Asks the record questions; false when the server has no {@code $ask} (then it is skipped with the reason). */
    private boolean ask(String patientId, JsonNode patient) {
        List<RecordQuestions.Question> questions = RecordQuestions.from(
                fhir.get("Observation?patient=" + patientId + "&category=laboratory&_sort=-date&_count=50"),
                fhir.get("MedicationRequest?patient=" + patientId + "&status=active&_count=50"),
                fhir.get("AllergyIntolerance?patient=" + patientId + "&_count=50"),
                fhir.get("Procedure?patient=" + patientId + "&_sort=-date&_count=50"));
        Demographics groups = Demographics.of(patient, null);
        for (RecordQuestions.Question question : questions) {
            ObjectNode params = parameters();
            addParameter(params, "question", "valueString", question.text());
            JsonNode answer;
            try {
                answer = fhir.post(patientId + "/$ask", params);
            } catch (FhirRest.FhirException ex) {
                if (ex.status() == 404 || ex.status() == 400) {
                    skipped.add("record QA skipped: the server does not offer POST Patient/{id}/$ask (" + ex.getMessage() + ")");
                    return false;
                }
                skipped.add("$ask " + patientId + " (" + question.kind() + "): " + ex.getMessage());
                continue;
            }
            String text = null;
            for (JsonNode p : answer.path("parameter")) {
                if ("answer".equals(p.path("name").asText())) {
                    text = p.path("valueString").asText(p.path("valueMarkdown").asText(null));
                }
            }
            recordQa.add(RecordQuestions.score(question, text), groups);
        }
        return true;
    }

    /**
     * JSONL, one study per line: {@code {"study": "ImagingStudy/ID", "reference": "report text",
     * "images": ["file.png", ...]}} (images optional: without them the server fetches the study's own).
     */
    private void radiology(Path jsonl) throws IOException {
        for (String line : Files.readAllLines(jsonl, StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode item = JSON.readTree(line);
            String study = item.path("study").asText();
            ObjectNode params = parameters();
            addParameter(params, "persist", "valueBoolean", false);
            if (options.maxTokens() != null) {
                addParameter(params, "maxTokens", "valueInteger", options.maxTokens());
            }
            for (JsonNode image : item.path("images")) {
                Path file = jsonl.resolveSibling(image.asText());
                ObjectNode attachment = JSON.createObjectNode()
                        .put("contentType", file.toString().toLowerCase().endsWith(".png") ? "image/png" : "image/jpeg")
                        .put("data", Base64.getEncoder().encodeToString(Files.readAllBytes(file)));
                params.withArray("parameter").addObject().put("name", "image").set("valueAttachment", attachment);
            }
            JsonNode report;
            JsonNode patient;
            try {
                JsonNode studyResource = fhir.get(study);
                patient = fhir.get(studyResource.path("subject").path("reference").asText());
                report = fhir.post(study + "/$draft-report", params);
            } catch (FhirRest.FhirException ex) {
                skipped.add("$draft-report " + study + ": " + ex.getMessage());
                continue;
            }
            String draft = report.path("presentedForm").path(0).has("data")
                    ? FhirRest.attachmentText(report.path("presentedForm").path(0)) : report.path("conclusion").asText("");
            Demographics groups = Demographics.of(patient, null);
            String reference = item.path("reference").asText();
            rouge.add(Findings.rougeL(reference, draft), groups);
            findingAgreement.add(Findings.agreement(reference, draft), groups);
        }
    }

    /** Displays of the patient's coded data: the "coded terms" a summary sentence may state. */
    private List<String> vocabulary(String patientId) {
        Set<String> terms = new LinkedHashSet<>();
        for (String query : List.of("Condition?patient=%s&_count=200", "MedicationRequest?patient=%s&_count=200",
                "AllergyIntolerance?patient=%s&_count=200", "Procedure?patient=%s&_count=200",
                "Observation?patient=%s&_count=200&_elements=code")) {
            JsonNode bundle = fhir.get(query.formatted(patientId));
            for (JsonNode e : bundle.path("entry")) {
                JsonNode r = e.path("resource");
                for (String field : List.of("code", "medicationCodeableConcept")) {
                    String text = RecordQuestions.text(r.path(field));
                    if (text != null) {
                        terms.add(text.replaceAll("\\s*\\((disorder|finding|procedure|situation)\\)$", ""));
                    }
                }
            }
        }
        return List.copyOf(terms);
    }

    private static ObjectNode parameters() {
        ObjectNode p = JSON.createObjectNode().put("resourceType", "Parameters");
        p.putArray("parameter");
        return p;
    }

    private static void addParameter(ObjectNode params, String name, String type, Object value) {
        ObjectNode p = ((ArrayNode) params.get("parameter")).addObject().put("name", name);
        if (value instanceof Boolean b) {
            p.put(type, b);
        } else if (value instanceof Integer i) {
            p.put(type, i);
        } else {
            p.put(type, String.valueOf(value));
        }
    }
}
