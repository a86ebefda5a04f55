package dev.medgemmafhir.operations.prompt;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Groups of words and phrases that mean the same to a clinician ("weigh", "body weight"; "A1c",
 * "hemoglobin A1c"), for expanding a question before {@link Relevance} ranks facts by it. The
 * groups ship in {@code clinical-synonyms.txt} beside this class (one group a line, alternatives
 * separated by {@code |}, {@code #} comments); a site adds its own file of the same form.
 */
public final class ClinicalSynonyms {

  /** The shipped list, a classpath resource beside this class. */
  public static final String RESOURCE = "clinical-synonyms.txt";

  private static final ClinicalSynonyms BUNDLED = new ClinicalSynonyms(parse(bundledText()));
  private static final ClinicalSynonyms NONE = new ClinicalSynonyms(List.of());

  /** Each group: its alternatives, each alternative its stemmed words. */
  private final List<List<List<String>>> groups;

  private ClinicalSynonyms(List<List<List<String>>> groups) {
    this.groups = List.copyOf(groups);
  }

  /** The shipped list. */
  public static ClinicalSynonyms bundled() {
    return BUNDLED;
  }

  /** No synonyms: the question's own words only (for comparison). */
  public static ClinicalSynonyms none() {
    return NONE;
  }

  /** The shipped list plus the groups of a site's file (same form). */
  public static ClinicalSynonyms bundledPlus(Path siteFile) {
    try {
      List<List<List<String>>> all = new ArrayList<>(BUNDLED.groups);
      all.addAll(parse(Files.readString(siteFile, StandardCharsets.UTF_8)));
      return new ClinicalSynonyms(all);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the synonyms file " + siteFile, e);
    }
  }

  /** Groups parsed from text in the file's form. */
  public static ClinicalSynonyms of(String text) {
    return new ClinicalSynonyms(parse(text));
  }

  public int groupCount() {
    return groups.size();
  }

  /**
   * The words to add to a question: every word of every alternative of each group that one of the
   * question's words or phrases belongs to, less the question's own words.
   *
   * @param question the question's stemmed words, in order
   */
  public Set<String> expansion(List<String> question) {
    Set<String> added = new LinkedHashSet<>();
    for (List<List<String>> group : groups) {
      if (group.stream().anyMatch(alternative -> contains(question, alternative))) {
        group.forEach(added::addAll);
      }
    }
    added.removeAll(question);
    return added;
  }

  private static boolean contains(List<String> words, List<String> phrase) {
    if (phrase.isEmpty()) {
      return false;
    }
    for (int i = 0; i + phrase.size() <= words.size(); i++) {
      if (words.subList(i, i + phrase.size()).equals(phrase)) {
        return true;
      }
    }
    return false;
  }

  static List<List<List<String>>> parse(String text) {
    List<List<List<String>>> groups = new ArrayList<>();
    for (String line : text.split("\\R")) {
      String content = line.strip();
      if (content.isEmpty() || content.startsWith("#")) {
        continue;
      }
      List<List<String>> group = new ArrayList<>();
      for (String alternative : content.split("\\|")) {
        List<String> words = Relevance.terms(alternative);
        if (!words.isEmpty()) {
          group.add(words);
        }
      }
      if (group.size() > 1) {
        groups.add(group);
      }
    }
    return groups;
  }

  private static String bundledText() {
    try (InputStream in = ClinicalSynonyms.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + RESOURCE + " beside " + ClinicalSynonyms.class.getName());
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
