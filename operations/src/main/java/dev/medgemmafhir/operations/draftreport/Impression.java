package dev.medgemmafhir.operations.draftreport;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds the impression in a Markdown report: the text under an "Impression" heading or label
 * ({@code ## Impression}, {@code **Impression:**}, {@code IMPRESSION:}, with text on the same line
 * or below) up to the next heading or label; without one, the last paragraph.
 */
final class Impression {

  /** A heading ({@code ## X}), a bold label ({@code **X:**}, {@code **X**:}) or a plain label ({@code X:}). */
  private static final Pattern SECTION_START = Pattern.compile(
      "^\\s{0,3}(?:#{1,6}\\s+.*|(?:\\*\\*|__)[^*_]{1,40}(?:\\*\\*|__).*|[A-Za-z][A-Za-z /&-]{0,40}:(?:\\s.*)?)$");
  /** The impression's own start; group 1 is any text that follows it on the same line. */
  private static final Pattern IMPRESSION = Pattern.compile(
      "^\\s{0,3}(?:#{1,6}\\s+)?(?:\\*\\*|__)?\\s*impressions?\\s*(?::\\s*(?:\\*\\*|__)?|(?:\\*\\*|__)\\s*:?)?\\s*(.*)$",
      Pattern.CASE_INSENSITIVE);

  /** A line that is only a heading: {@code ## X} or {@code **X**} / {@code **X:**}. */
  private static final Pattern HEADING_ONLY = Pattern.compile(
      "^\\s{0,3}(?:#{1,6}\\s+.*|(?:\\*\\*|__)[^*_]{1,40}(?:\\*\\*|__)\\s*:?\\s*)$");

  private Impression() {}

  /** The impression of {@code markdown}; empty when the text is blank. */
  static String of(String markdown) {
    List<String> lines = markdown.strip().lines().toList();
    for (int i = 0; i < lines.size(); i++) {
      if (!SECTION_START.matcher(lines.get(i)).matches()) {
        continue;
      }
      Matcher m = IMPRESSION.matcher(lines.get(i));
      if (!m.matches()) {
        continue;
      }
      List<String> body = new ArrayList<>();
      if (!m.group(1).isBlank()) {
        body.add(m.group(1).strip());
      }
      for (int j = i + 1; j < lines.size() && !SECTION_START.matcher(lines.get(j)).matches(); j++) {
        body.add(lines.get(j));
      }
      String text = String.join("\n", body).strip();
      if (!text.isEmpty()) {
        return text;
      }
    }
    // The last paragraph with more than headings in it.
    String[] paragraphs = markdown.strip().split("\\n\\s*\\n");
    for (int p = paragraphs.length - 1; p >= 0; p--) {
      String text = paragraphs[p].lines().filter(line -> !HEADING_ONLY.matcher(line).matches())
          .reduce((a, b) -> a + "\n" + b).orElse("").strip();
      if (!text.isEmpty()) {
        return text;
      }
    }
    return "";
  }
}
