package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.LocalDate;
import java.time.Period;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The groups a patient falls in for the eval's splits: administrative sex, age band at the time
 * of the data (the encounter's start, else today, else the death date), and race and ethnicity as
 * recorded (US Core race and ethnicity extensions: the OMB category's display, else the text).
 * "unknown" when not recorded: those counts are reported too.
 */
public record Demographics(String sex, String ageBand, String race, String ethnicity) {

    /** Axes in report order. */
    public static final List<String> AXES = List.of("sex", "age band", "race", "ethnicity");
    /** Age bands (years): 0-17, 18-39, 40-64, 65+. */
    public static final List<String> AGE_BANDS = List.of("0-17", "18-39", "40-64", "65+");

    static final String US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race";
    static final String US_CORE_ETHNICITY = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-ethnicity";
    public static final Demographics UNKNOWN = new Demographics("unknown", "unknown", "unknown", "unknown");

    public Map<String, String> byAxis() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("sex", sex);
        m.put("age band", ageBand);
        m.put("race", race);
        m.put("ethnicity", ethnicity);
        return m;
    }

    /** From a FHIR Patient (JSON), age at {@code asOf} (null = today). */
    public static Demographics of(JsonNode patient, LocalDate asOf) {
        String sex = patient.path("gender").asText("unknown");
        String band = "unknown";
        if (patient.hasNonNull("birthDate")) {
            try {
                LocalDate birth = LocalDate.parse(patient.path("birthDate").asText().length() >= 10
                        ? patient.path("birthDate").asText().substring(0, 10) : patient.path("birthDate").asText() + "-01-01");
                LocalDate at = asOf != null ? asOf : patient.hasNonNull("deceasedDateTime")
                        ? LocalDate.parse(patient.path("deceasedDateTime").asText().substring(0, 10)) : LocalDate.now();
                band = ageBand(Period.between(birth, at).getYears());
            } catch (RuntimeException e) {
                band = "unknown";
            }
        }
        return new Demographics(sex, band, category(patient, US_CORE_RACE), category(patient, US_CORE_ETHNICITY));
    }

    static String ageBand(int years) {
        return years < 18 ? "0-17" : years < 40 ? "18-39" : years < 65 ? "40-64" : "65+";
    }

    private static String category(JsonNode patient, String url) {
        for (JsonNode ext : patient.path("extension")) {
            if (!url.equals(ext.path("url").asText())) {
                continue;
            }
            List<String> text = new ArrayList<>();
            for (JsonNode part : ext.path("extension")) {
                if ("ombCategory".equals(part.path("url").asText())) {
                    return part.path("valueCoding").path("display").asText(part.path("valueCoding").path("code").asText());
                }
                if ("text".equals(part.path("url").asText())) {
                    text.add(part.path("valueString").asText());
                }
            }
            if (!text.isEmpty()) {
                return text.get(0);
            }
        }
        return "unknown";
    }
}
