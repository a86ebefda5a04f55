package dev.medgemmafhir.operations.citations;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns the citation keys a model wrote ({@code [C3]}, {@code [C3, C7]}) back into references.
 * Keys the prompt never gave out are removed from the text and counted: a citation that points
 * nowhere must not look like evidence.
 */
public final class Citations {

  private static final Pattern GROUP = Pattern.compile("\\[\\s*(C\\d+(?:\\s*[,;]\\s*C\\d+)*)\\s*\\]");
  private static final Pattern KEY = Pattern.compile("C\\d+");

  /**
   * @param text the text with only known keys left, each group written {@code [C1, C2]}
   * @param cited the references cited, in order of first citation
   * @param citedKeys the keys cited, in order of first citation
   * @param unknownKeys how many citations named a key the prompt did not contain
   */
  public record Resolved(String text, List<String> cited, List<String> citedKeys, int unknownKeys) {}

  private Citations() {}

  public static Resolved resolve(String text, Map<String, String> keys) {
    Matcher group = GROUP.matcher(text);
    StringBuilder out = new StringBuilder();
    Set<String> citedKeys = new LinkedHashSet<>();
    int unknown = 0;
    while (group.find()) {
      List<String> known = new ArrayList<>();
      Matcher key = KEY.matcher(group.group(1));
      while (key.find()) {
        if (keys.containsKey(key.group())) {
          if (!known.contains(key.group())) {
            known.add(key.group());
          }
        } else {
          unknown++;
        }
      }
      citedKeys.addAll(known);
      String replacement = known.isEmpty() ? "" : "[" + String.join(", ", known) + "]";
      group.appendReplacement(out, Matcher.quoteReplacement(replacement));
    }
    group.appendTail(out);
    // Removing a whole group can leave a double space or a space before punctuation.
    String cleaned = out.toString().replaceAll("[ \\t]+([.,;:])", "$1").replaceAll("[ \\t]{2,}", " ").strip();
    List<String> cited = citedKeys.stream().map(keys::get).toList();
    return new Resolved(cleaned, cited, List.copyOf(citedKeys), unknown);
  }

  /** The text followed by a "Sources" list that spells out each cited key's reference. */
  public static String withSources(Resolved resolved, Map<String, String> keys) {
    return withSources(resolved, keys, Map.of());
  }

  /**
   * The text followed by a "Sources" list: each cited key with the fact the model was shown (so a
   * clinician can check the statement without opening the record) and its reference.
   *
   * @param texts citation key to the fact's text as it was in the prompt; keys without text show the reference only
   */
  public static String withSources(Resolved resolved, Map<String, String> keys, Map<String, String> texts) {
    if (resolved.citedKeys().isEmpty()) {
      return resolved.text();
    }
    StringBuilder md = new StringBuilder(resolved.text()).append("\n\n---\n\n**Sources**\n\n");
    for (String key : resolved.citedKeys()) {
      md.append("- [").append(key).append("] ");
      String text = texts.get(key);
      md.append(text == null ? keys.get(key) : text + " (" + keys.get(key) + ")").append('\n');
    }
    return md.toString();
  }
}
