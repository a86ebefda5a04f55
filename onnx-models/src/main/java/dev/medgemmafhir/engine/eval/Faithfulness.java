package dev.medgemmafhir.engine.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Checks a summary's sentences against the facts they cite. The server writes a summary as text
 * with citation keys ({@code [C3]} or {@code [C3, C7]}) followed by a "Sources" list that repeats
 * each cited fact as the model saw it ({@code - [C3] fact text (Type/id/_history/n)}).
 *
 * <p>A cited sentence is <b>supported</b> when every number (with its unit, if it has one), every
 * date and every coded term in it appears in the text of the facts it cites; otherwise it is
 * <b>unsupported</b>. A sentence without a citation that contains a number, a date or a coded term
 * is <b>uncited-factual</b>. Coded terms are the displays of the patient's coded data (conditions,
 * medications, observations, procedures, allergies), given by the caller; matching ignores case.
 * Units are compared in one spelling each ({@link UnitSpellings}): "120 mmHg" is supported by a
 * fact's "120 mm[Hg]", "72 bpm" by "72 /min", "98.6 °F" by "98.6 [degF]".
 */
public final class Faithfulness {

    /** The verdict on one sentence. */
    public enum Kind { SUPPORTED, UNSUPPORTED, UNCITED_FACTUAL, UNCITED_OTHER }

    /** One sentence, its verdict and, when unsupported, what was missing from the cited facts. */
    public record Sentence(String text, Kind kind, List<String> missing) {}

    /** The counts over one summary. */
    public record Result(List<Sentence> sentences) {
        public long count(Kind kind) {
            return sentences.stream().filter(s -> s.kind() == kind).count();
        }

        public long cited() {
            return count(Kind.SUPPORTED) + count(Kind.UNSUPPORTED);
        }
    }

    private static final Pattern SOURCES = Pattern.compile("\\n-{3,}\\s*\\n\\s*\\*\\*Sources\\*\\*\\s*\\n");
    private static final Pattern SOURCE_LINE = Pattern.compile("^-\\s*\\[(C\\d+)]\\s*(.*)$", Pattern.MULTILINE);
    private static final Pattern CITATION = Pattern.compile("\\[\\s*(C\\d+(?:\\s*[,;]\\s*C\\d+)*)\\s*]");
    private static final Pattern KEY = Pattern.compile("C\\d+");
    private static final Pattern DATE = Pattern.compile("\\b\\d{4}-\\d{2}(?:-\\d{2})?\\b|\\b\\d{1,2}/\\d{1,2}/\\d{2,4}\\b");
    /** A number with an optional unit right after it (mmHg, mg/dL, %, kg/m2, ...). */
    private static final Pattern NUMBER = Pattern.compile("(?<![\\w.])(\\d+(?:\\.\\d+)?)(?:\\s?([a-zA-Z%µ][a-zA-Z%µ/0-9^]*(?:/[a-zA-Z0-9]+)?))?");
    private static final Pattern SENTENCE_END = Pattern.compile("(?<=[.!?])\\s+(?=[A-Z\\[(*-])|\\n+");

    private Faithfulness() {}

    /** The summary's body (before "Sources") and the cited facts' texts by key. */
    static Map<String, String> sources(String markdown) {
        Map<String, String> facts = new LinkedHashMap<>();
        Matcher split = SOURCES.matcher(markdown);
        if (!split.find()) {
            return facts;
        }
        Matcher line = SOURCE_LINE.matcher(markdown.substring(split.end()));
        while (line.find()) {
            facts.put(line.group(1), line.group(2));
        }
        return facts;
    }

    static String body(String markdown) {
        Matcher split = SOURCES.matcher(markdown);
        return split.find() ? markdown.substring(0, split.start()) : markdown;
    }

    public static Result check(String markdown, List<String> codedTerms) {
        Map<String, String> facts = sources(markdown);
        List<Sentence> out = new ArrayList<>();
        for (String raw : SENTENCE_END.split(body(markdown))) {
            String sentence = raw.strip();
            if (sentence.isEmpty() || sentence.chars().noneMatch(Character::isLetterOrDigit)) {
                continue;
            }
            List<String> keys = new ArrayList<>();
            Matcher c = CITATION.matcher(sentence);
            while (c.find()) {
                Matcher k = KEY.matcher(c.group(1));
                while (k.find()) {
                    keys.add(k.group());
                }
            }
            String claim = UnitSpellings.canonical(CITATION.matcher(sentence).replaceAll(" "));
            List<String> checkable = checkable(claim, codedTerms);
            if (keys.isEmpty()) {
                out.add(new Sentence(sentence, checkable.isEmpty() ? Kind.UNCITED_OTHER : Kind.UNCITED_FACTUAL, List.of()));
                continue;
            }
            StringBuilder cited = new StringBuilder();
            keys.forEach(k -> cited.append(' ').append(facts.getOrDefault(k, "")));
            String evidence = normalise(UnitSpellings.canonical(cited.toString()));
            List<String> missing = checkable.stream().filter(item -> !evidence.contains(normalise(item))).toList();
            out.add(new Sentence(sentence, missing.isEmpty() ? Kind.SUPPORTED : Kind.UNSUPPORTED, missing));
        }
        return new Result(out);
    }

    /** The numbers (with units), dates and coded terms of a claim: what the cited facts must contain. */
    static List<String> checkable(String claim, List<String> codedTerms) {
        List<String> items = new ArrayList<>();
        String rest = claim;
        Matcher date = DATE.matcher(claim);
        while (date.find()) {
            items.add(date.group());
        }
        rest = DATE.matcher(rest).replaceAll(" ");
        Matcher number = NUMBER.matcher(rest);
        while (number.find()) {
            String unit = number.group(2);
            boolean isUnit = unit != null && UNITS.matcher(unit).matches();
            items.add(isUnit ? number.group(1) + " " + unit : number.group(1));
        }
        String lower = claim.toLowerCase(Locale.ROOT);
        for (String term : codedTerms) {
            String t = term.toLowerCase(Locale.ROOT).strip();
            if (t.length() >= 4 && Pattern.compile("(?<![a-z])" + Pattern.quote(t) + "(?![a-z])").matcher(lower).find()) {
                items.add(term);
            }
        }
        return items;
    }

    /** Units as FHIR Quantity unit strings and UCUM write them (not words such as "days" or "years"). */
    private static final Pattern UNITS = Pattern.compile(
            "(?i)%|permin|degF|lb|mL/min/1\\.73m2|mmHg|mm\\[Hg]|mg|g|kg|mcg|ug|µg|ml|mL|l|L|mmol/L|mg/dL|g/dL|mEq/L|U/L|IU/L|kg/m2|kg/m\\^2|cm|mm|/min|bpm|cel|Cel|°C|°F|\\{score}|mg/L|ng/mL|pg/mL|fL|pg|10\\*3/uL|10\\*6/uL|mL/min");

    /** Case and spacing do not matter; "120 mmHg" and "120mmHg" are the same claim. */
    static String normalise(String text) {
        return text.toLowerCase(Locale.ROOT).replaceAll("(\\d)\\s+(?=[a-z%µ])", "$1").replaceAll("\\s+", " ");
    }
}
