package dev.medgemmafhir.operations.prompt;

import dev.medgemmafhir.operations.context.ClinicalFact;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Orders facts by how well they fit a question: Okapi BM25 over the fact lines (each line one
 * document, the question the query; k1 1.2, b 0.75, the usual defaults), ties and non-matching facts
 * newest first. Lexical on purpose: it needs no model, explains itself, and the fact lines carry the
 * record's own words (codes' displays, units, dates), which is what clinicians' questions name. The
 * question is expanded with {@link ClinicalSynonyms} first ("weigh" also looks for "body weight"),
 * and every word, in questions and facts alike, is lightly stemmed ({@link #stem}).
 */
public final class Relevance {

  private static final double K1 = 1.2;
  private static final double B = 0.75;
  private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}]+");
  /** Words too common in questions to say what they are about. */
  private static final Set<String> STOP = Set.of("a", "an", "and", "are", "as", "at", "be", "did", "do", "does",
      "for", "from", "had", "has", "have", "her", "his", "how", "i", "in", "is", "it", "its", "last", "me", "my",
      "of", "on", "or", "she", "he", "the", "their", "them", "there", "they", "this", "to", "was", "were", "what",
      "when", "which", "who", "why", "with", "patient", "patients", "any", "ever", "been", "latest", "most", "recent",
      "s", "up", "trending", "much", "many", "value", "values").stream().map(Relevance::stem)
      .collect(java.util.stream.Collectors.toUnmodifiableSet());

  /** The shipped synonyms, read on first use (they are parsed with {@link #terms}). */
  private static final class Bundled {
    static final Relevance RELEVANCE = new Relevance(ClinicalSynonyms.bundled());
  }

  private final ClinicalSynonyms synonyms;

  public Relevance(ClinicalSynonyms synonyms) {
    this.synonyms = synonyms;
  }

  /** Ranks with the shipped synonym list. */
  public static List<ClinicalFact> rank(String question, List<ClinicalFact> facts) {
    return Bundled.RELEVANCE.ranked(question, facts);
  }

  /** The words searched for: the question's content words and, after them, its synonyms' words. */
  public List<String> query(String question) {
    List<String> words = terms(question);
    List<String> query = new ArrayList<>(words.stream().filter(t -> !STOP.contains(t)).distinct().toList());
    synonyms.expansion(words).stream().filter(t -> !STOP.contains(t) && !query.contains(t)).forEach(query::add);
    return query;
  }

  /** The facts, best match for {@code question} first; facts with equal score newest first. */
  public List<ClinicalFact> ranked(String question, List<ClinicalFact> facts) {
    List<String> query = query(question);
    List<List<String>> docs = facts.stream().map(f -> terms(f.text())).toList();
    double avg = docs.stream().mapToInt(List::size).average().orElse(1);
    Map<String, Integer> documentFrequency = new HashMap<>();
    for (List<String> doc : docs) {
      doc.stream().distinct().forEach(t -> documentFrequency.merge(t, 1, Integer::sum));
    }
    int n = facts.size();
    List<Scored> scored = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<String> doc = docs.get(i);
      Map<String, Integer> tf = new HashMap<>();
      doc.forEach(t -> tf.merge(t, 1, Integer::sum));
      double score = 0;
      for (String term : query) {
        Integer f = tf.get(term);
        if (f == null) {
          continue;
        }
        int df = documentFrequency.get(term);
        double idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
        score += idf * f * (K1 + 1) / (f + K1 * (1 - B + B * doc.size() / avg));
      }
      scored.add(new Scored(facts.get(i), score));
    }
    scored.sort(Comparator.comparingDouble(Scored::score).reversed()
        .thenComparing(s -> s.fact().date(), Comparator.nullsLast(Comparator.reverseOrder()))
        .thenComparing(s -> s.fact().reference()));
    return scored.stream().map(Scored::fact).toList();
  }

  static List<String> terms(String text) {
    List<String> terms = new ArrayList<>();
    Matcher m = WORD.matcher(text.toLowerCase(Locale.ROOT));
    while (m.find()) {
      terms.add(stem(m.group()));
    }
    return terms;
  }

  /**
   * Light stemming, the same for questions and facts: a plural's s ("medications" finds
   * "medication", "allergies" finds "allergy"), then -ing and -ed, then a final e ("smoke",
   * "smoked" and "smoking" all become "smok"). Words of three letters or fewer (abbreviations) stay.
   */
  static String stem(String word) {
    String w = word;
    if (w.length() <= 3) {
      return w;
    }
    if (w.endsWith("ies") && w.length() > 4) {
      w = w.substring(0, w.length() - 3) + "y";
    } else if (w.endsWith("s") && !w.endsWith("ss") && !w.endsWith("us") && !w.endsWith("is")) {
      w = w.substring(0, w.length() - 1);
    }
    if (w.endsWith("ing") && w.length() >= 7) {
      w = w.substring(0, w.length() - 3);
    } else if (w.endsWith("ed") && !w.endsWith("eed") && w.length() >= 6) {
      w = w.substring(0, w.length() - 2);
    }
    if (w.endsWith("e") && w.length() >= 5) {
      w = w.substring(0, w.length() - 1);
    }
    return w;
  }

  private record Scored(ClinicalFact fact, double score) {}
}
