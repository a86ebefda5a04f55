package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Questions about a patient's record whose answers the record holds: the latest value of a lab
 * (Observation with a Quantity), the active medications, the allergies, and the date of a
 * procedure. Answers are scored by numeric match (the expected number within 1 %, unit optional)
 * or by exact match (every expected term appears in the answer, ignoring case).
 */
public final class RecordQuestions {

    /** How an answer is scored. */
    public enum Match { NUMERIC, EXACT }

    /** A question, what a correct answer must contain, and how to compare. */
    public record Question(String kind, String text, List<String> expected, Match match) {}

    private static final Pattern NUMBER = Pattern.compile("-?\\d+(?:\\.\\d+)?");

    private RecordQuestions() {}

    /**
     * @param observations, medications, allergies, procedures searchset Bundles (JSON) of one patient
     */
    public static List<Question> from(JsonNode observations, JsonNode medications, JsonNode allergies, JsonNode procedures) {
        List<Question> questions = new ArrayList<>();
        // Latest value of the most recent lab with a numeric value.
        List<JsonNode> labs = new ArrayList<>();
        for (JsonNode e : observations.path("entry")) {
            JsonNode r = e.path("resource");
            if (r.path("valueQuantity").has("value") && r.has("effectiveDateTime") && text(r.path("code")) != null) {
                labs.add(r);
            }
        }
        labs.sort(Comparator.comparing((JsonNode r) -> r.path("effectiveDateTime").asText()).reversed());
        if (!labs.isEmpty()) {
            JsonNode latest = labs.get(0);
            String name = text(latest.path("code"));
            // The latest of this code (there may be several with the same code).
            questions.add(new Question("latest lab value", "What is the patient's most recent " + name + "?",
                    List.of(plain(latest.path("valueQuantity").path("value").decimalValue().stripTrailingZeros().toPlainString())),
                    Match.NUMERIC));
        }
        List<String> active = new ArrayList<>();
        for (JsonNode e : medications.path("entry")) {
            JsonNode r = e.path("resource");
            String name = text(r.path("medicationCodeableConcept"));
            if ("active".equals(r.path("status").asText()) && name != null && !active.contains(name)) {
                active.add(name);
            }
        }
        if (!active.isEmpty()) {
            questions.add(new Question("active medications", "Which medications is the patient currently taking?", active, Match.EXACT));
        }
        List<String> allergyNames = new ArrayList<>();
        for (JsonNode e : allergies.path("entry")) {
            String name = text(e.path("resource").path("code"));
            if (name != null && !allergyNames.contains(name)) {
                allergyNames.add(name);
            }
        }
        if (!allergyNames.isEmpty()) {
            questions.add(new Question("allergies", "What allergies does the patient have?", allergyNames, Match.EXACT));
        }
        JsonNode procedure = null;
        for (JsonNode e : procedures.path("entry")) {
            JsonNode r = e.path("resource");
            String date = date(r);
            if (date != null && text(r.path("code")) != null && (procedure == null || date.compareTo(date(procedure)) > 0)) {
                procedure = r;
            }
        }
        if (procedure != null) {
            questions.add(new Question("procedure date", "On what date did the patient last have " + text(procedure.path("code")) + "?",
                    List.of(date(procedure)), Match.EXACT));
        }
        return questions;
    }

    /** 1 when the answer is right, else 0. */
    public static double score(Question question, String answer) {
        if (answer == null) {
            return 0;
        }
        if (question.match() == Match.NUMERIC) {
            double expected = Double.parseDouble(question.expected().get(0));
            Matcher m = NUMBER.matcher(answer);
            while (m.find()) {
                double got = Double.parseDouble(m.group());
                if (Math.abs(got - expected) <= Math.max(1e-9, Math.abs(expected) * 0.01)) {
                    return 1;
                }
            }
            return 0;
        }
        String a = answer.toLowerCase(Locale.ROOT);
        return question.expected().stream().allMatch(e -> a.contains(e.toLowerCase(Locale.ROOT))) ? 1 : 0;
    }

    private static String plain(String number) {
        return number;
    }

    private static String date(JsonNode procedure) {
        String d = procedure.path("performedPeriod").path("start").asText(procedure.path("performedDateTime").asText(""));
        return d.length() >= 10 ? d.substring(0, 10) : null;
    }

    static String text(JsonNode concept) {
        if (concept.hasNonNull("text")) {
            return concept.path("text").asText();
        }
        JsonNode coding = concept.path("coding").path(0);
        return coding.hasNonNull("display") ? coding.path("display").asText() : null;
    }
}
