package dev.medgemmafhir.engine.eval;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One spelling for each common unit, so that a summary's "120 mmHg" meets its fact's UCUM
 * "120 mm[Hg]": the UCUM codes FHIR Quantities carry ({@code mm[Hg]}, {@code /min},
 * {@code kg/m2}, {@code [degF]}, {@code Cel}, {@code [lb_av]}, {@code 10*3/uL}, ...) and the
 * everyday spellings a model writes ({@code mmHg}, {@code bpm}, {@code beats per minute},
 * {@code kg/m²}, {@code °F}, {@code °C}, {@code lbs}, {@code mcg}, {@code percent}, ...) become the
 * same token. Only a unit right after a number is rewritten, matching ignores case, and the unit
 * must end there (so "Cel" does not touch "Cells"). Different units stay different: "120 mmHg" does
 * not become "120 kPa", and no value is converted.
 */
final class UnitSpellings {

    /** Canonical spelling to the alternatives (regular expressions) that mean it. */
    private static final Map<String, String> SPELLINGS = new LinkedHashMap<>();

    static {
        SPELLINGS.put("mmHg", "mm\\s?\\[hg]|mm\\s?hg");
        SPELLINGS.put("permin", "\\{beats}/min|\\{breaths}/min|beats/min|breaths/min|beats per minute|breaths per minute"
                + "|bpm|/min|per min(?:ute)?|min-1|/minute");
        SPELLINGS.put("kg/m2", "kg/m\\^?2|kg/m²|kg/\\(m2\\)");
        SPELLINGS.put("degF", "\\[degf]|°\\s?f|deg\\s?f|degrees? f(?:ahrenheit)?|fahrenheit");
        SPELLINGS.put("Cel", "cel|°\\s?c|deg\\s?c|degrees? c(?:elsius)?|celsius");
        SPELLINGS.put("mL/min/1.73m2", "ml/min/\\{1\\.73_m2}|ml/min/1\\.73\\s?m2|ml/min/1\\.73\\s?m²|ml/min/1\\.73m\\^2");
        SPELLINGS.put("lb", "\\[lb_av]|lbs?|pounds?");
        SPELLINGS.put("ug", "mcg|µg|ug");
        SPELLINGS.put("10*3/uL", "10\\*3/ul|10\\^3/ul|x\\s?10\\^3/ul|k/ul|10\\*3/µl|10\\^3/µl");
        SPELLINGS.put("10*6/uL", "10\\*6/ul|10\\^6/ul|x\\s?10\\^6/ul|m/ul|10\\*6/µl|10\\^6/µl");
        SPELLINGS.put("%", "%|percent");
    }

    private static final Pattern UNIT;

    static {
        StringBuilder alternatives = new StringBuilder();
        SPELLINGS.values().forEach(a -> alternatives.append(alternatives.isEmpty() ? "" : "|").append(a));
        // A number, optional space, one spelling, and no letter, digit or closing bracket right after it.
        UNIT = Pattern.compile("(\\d)\\s?(" + alternatives + ")(?![\\p{L}\\d\\]}])",
                Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
    }

    private UnitSpellings() {}

    /** The text with each unit after a number in its canonical spelling, one space after the number. */
    static String canonical(String text) {
        Matcher m = UNIT.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(m.group(1) + " " + canonicalOf(m.group(2))));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String canonicalOf(String spelling) {
        for (Map.Entry<String, String> e : SPELLINGS.entrySet()) {
            if (Pattern.compile("(?:" + e.getValue() + ")", Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE)
                    .matcher(spelling).matches()) {
                return e.getKey();
            }
        }
        return spelling;
    }
}
