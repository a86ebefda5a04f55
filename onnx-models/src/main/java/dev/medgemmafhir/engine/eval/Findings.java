package dev.medgemmafhir.engine.eval;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Radiology report scoring: ROUGE-L (longest common subsequence of words, F-measure) and
 * finding-level agreement on a fixed list of findings (the 13 CheXpert observations besides
 * "No Finding", with the synonyms below), each read as present, absent (negated) or not mentioned.
 * A finding is negated when a negation cue ({@code no, without, negative for, free of, absence of,
 * resolved, ruled out, not}) comes before it in the same sentence, within six words. This is a
 * NegEx-style rule, not a clinical NLP system: it is documented so that numbers are comparable.
 */
public final class Findings {

    /** A finding and the phrases that name it. */
    public record Finding(String name, List<String> phrases) {}

    public enum Label { PRESENT, ABSENT, NOT_MENTIONED }

    public static final List<Finding> LIST = List.of(
            new Finding("enlarged cardiomediastinum", List.of("enlarged cardiomediastinum", "mediastinal widening", "widened mediastinum")),
            new Finding("cardiomegaly", List.of("cardiomegaly", "enlarged heart", "cardiac enlargement", "enlarged cardiac silhouette")),
            new Finding("lung opacity", List.of("opacity", "opacities", "opacification")),
            new Finding("lung lesion", List.of("nodule", "nodules", "mass", "lesion")),
            new Finding("edema", List.of("edema", "oedema", "vascular congestion")),
            new Finding("consolidation", List.of("consolidation", "consolidations")),
            new Finding("pneumonia", List.of("pneumonia", "infection")),
            new Finding("atelectasis", List.of("atelectasis", "atelectatic", "collapse")),
            new Finding("pneumothorax", List.of("pneumothorax", "pneumothoraces")),
            new Finding("pleural effusion", List.of("pleural effusion", "pleural effusions", "effusion", "effusions")),
            new Finding("pleural other", List.of("pleural thickening", "pleural plaque", "fibrothorax")),
            new Finding("fracture", List.of("fracture", "fractures")),
            new Finding("support devices", List.of("catheter", "tube", "pacemaker", "line", "device", "wires")));

    private static final Pattern NEGATION = Pattern.compile(
            "\\b(no|without|negative for|free of|absence of|absent|resolved|ruled out|not|nor)\\b");

    private Findings() {}

    /** Each finding's label in a report. */
    public static Map<String, Label> label(String report) {
        Map<String, Label> labels = new LinkedHashMap<>();
        String[] sentences = report.toLowerCase(Locale.ROOT).split("(?<=[.!?;])\\s+|\\n+");
        for (Finding finding : LIST) {
            Label label = Label.NOT_MENTIONED;
            for (String sentence : sentences) {
                for (String phrase : finding.phrases()) {
                    Matcher m = Pattern.compile("\\b" + Pattern.quote(phrase) + "\\b").matcher(sentence);
                    while (m.find()) {
                        String before = sentence.substring(0, m.start());
                        String[] words = before.strip().split("\\s+");
                        String window = String.join(" ", java.util.Arrays.copyOfRange(words, Math.max(0, words.length - 6), words.length));
                        Label found = NEGATION.matcher(window).find() ? Label.ABSENT : Label.PRESENT;
                        // A positive mention anywhere wins over a negated one.
                        if (found == Label.PRESENT || label == Label.NOT_MENTIONED) {
                            label = found;
                        }
                    }
                }
            }
            labels.put(finding.name(), label);
        }
        return labels;
    }

    /** Share of the listed findings with the same label in both reports. */
    public static double agreement(String reference, String candidate) {
        Map<String, Label> a = label(reference);
        Map<String, Label> b = label(candidate);
        long same = a.keySet().stream().filter(k -> a.get(k) == b.get(k)).count();
        return (double) same / a.size();
    }

    /** ROUGE-L F1 over lower-cased word tokens. */
    public static double rougeL(String reference, String candidate) {
        List<String> r = words(reference);
        List<String> c = words(candidate);
        if (r.isEmpty() || c.isEmpty()) {
            return 0;
        }
        int[][] lcs = new int[r.size() + 1][c.size() + 1];
        for (int i = 1; i <= r.size(); i++) {
            for (int j = 1; j <= c.size(); j++) {
                lcs[i][j] = r.get(i - 1).equals(c.get(j - 1)) ? lcs[i - 1][j - 1] + 1 : Math.max(lcs[i - 1][j], lcs[i][j - 1]);
            }
        }
        double l = lcs[r.size()][c.size()];
        if (l == 0) {
            return 0;
        }
        double precision = l / c.size();
        double recall = l / r.size();
        return 2 * precision * recall / (precision + recall);
    }

    static List<String> words(String text) {
        List<String> out = new ArrayList<>();
        for (String w : text.toLowerCase(Locale.ROOT).split("[^\\p{L}\\p{N}]+")) {
            if (!w.isEmpty()) {
                out.add(w);
            }
        }
        return out;
    }
}
