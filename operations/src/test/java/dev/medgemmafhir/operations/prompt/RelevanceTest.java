package dev.medgemmafhir.operations.prompt;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.medgemmafhir.operations.context.ClinicalFact;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RelevanceTest {

  static ClinicalFact fact(String reference, String day, String text) {
    return new ClinicalFact(ClinicalFact.Section.OBSERVATION, reference, Instant.parse(day + "T00:00:00Z"), text);
  }

  /** Newer facts first in recency, so a question that matches nothing would get the newest, not the weight. */
  static final List<ClinicalFact> FACTS = List.of(
      fact("Observation/weight", "2020-01-01", "Observation 2020-01-01: Body Weight 71.2 kg"),
      fact("Observation/smoking", "2020-01-02", "Observation 2020-01-02: Tobacco smoking status: Never smoked tobacco"),
      fact("Observation/glucose", "2020-01-03", "Observation 2020-01-03: Glucose [Mass/volume] in Blood 98 mg/dL"),
      fact("Observation/a1c", "2020-01-04", "Observation 2020-01-04: Hemoglobin A1c/Hemoglobin.total in Blood 5.9 %"),
      fact("Observation/bp", "2020-01-05", "Observation 2020-01-05: Blood pressure panel: 120/80 mm[Hg]"),
      fact("Observation/creatinine", "2020-01-06", "Observation 2020-01-06: Creatinine [Mass/volume] in Blood 1.1 mg/dL"),
      fact("Observation/pain", "2020-01-07", "Observation 2020-01-07: Pain severity - 0-10 verbal numeric rating 2"));

  static String best(Relevance relevance, String question) {
    return relevance.ranked(question, FACTS).get(0).reference();
  }

  @Test
  void paraphrasesFindTheFactThroughTheShippedSynonyms() {
    Relevance relevance = new Relevance(ClinicalSynonyms.bundled());
    assertThat(best(relevance, "How much does she weigh?")).isEqualTo("Observation/weight");
    assertThat(best(relevance, "Does she smoke?")).isEqualTo("Observation/smoking");
    assertThat(best(relevance, "What was her last blood sugar?")).isEqualTo("Observation/glucose");
    assertThat(best(relevance, "Is her HbA1c up?")).isEqualTo("Observation/a1c");
    assertThat(best(relevance, "What was her BP?")).isEqualTo("Observation/bp");
    assertThat(best(relevance, "How are her kidneys?")).isEqualTo("Observation/creatinine");
  }

  @Test
  void withoutSynonymsTheSameParaphrasesFallBackToRecency() {
    Relevance plain = new Relevance(ClinicalSynonyms.none());
    // No shared word: every score is 0 and the newest fact comes first.
    assertThat(best(plain, "How much does she weigh?")).isEqualTo("Observation/pain");
    assertThat(best(plain, "What was her BP?")).isEqualTo("Observation/pain");
  }

  @Test
  void stemmingFoldsPluralsAndVerbFormsAlike() {
    assertThat(Relevance.stem("smoking")).isEqualTo(Relevance.stem("smoke")).isEqualTo(Relevance.stem("smoked"))
        .isEqualTo(Relevance.stem("smokes"));
    assertThat(Relevance.stem("allergies")).isEqualTo(Relevance.stem("allergy"));
    assertThat(Relevance.stem("medications")).isEqualTo("medication");
    assertThat(Relevance.stem("triglycerides")).isEqualTo(Relevance.stem("triglyceride"));
    // Short words (abbreviations) and -ss/-us/-is endings stay as they are.
    assertThat(Relevance.stem("bun")).isEqualTo("bun");
    assertThat(Relevance.stem("loss")).isEqualTo("loss");
    assertThat(Relevance.stem("diagnosis")).isEqualTo("diagnosis");
    // Stemming alone lets "smoke" find "smoking" and "smoked".
    assertThat(best(new Relevance(ClinicalSynonyms.none()), "Does she smoke?")).isEqualTo("Observation/smoking");
  }

  @Test
  void expansionAddsTheWordsOfEveryAlternativeOfAMatchedGroupOnly() {
    ClinicalSynonyms synonyms = ClinicalSynonyms.of("""
        # a comment
        weigh | body weight
        sugar | glucose | blood sugar

        lonely
        """);
    assertThat(synonyms.groupCount()).as("a one-word line is no group").isEqualTo(2);
    assertThat(synonyms.expansion(Relevance.terms("how much does she weigh"))).containsExactly("body", "weight");
    // A phrase matches only as consecutive words.
    assertThat(synonyms.expansion(Relevance.terms("blood test for sugar"))).contains(Relevance.stem("glucose"));
    assertThat(synonyms.expansion(Relevance.terms("blood pressure"))).isEmpty();
    assertThat(new Relevance(synonyms).query("How much does she weigh?")).containsExactly("weigh", "body", "weight");
  }

  @Test
  void aSiteFileAddsGroupsToTheShippedOnes(@TempDir Path dir) throws Exception {
    Path site = dir.resolve("site-synonyms.txt");
    Files.writeString(site, "scale reading | body weight\n");
    ClinicalSynonyms extended = ClinicalSynonyms.bundledPlus(site);
    // Not in the shipped list: nothing matches and the newest fact comes first.
    assertThat(best(new Relevance(ClinicalSynonyms.bundled()), "What did the scale reading say?"))
        .isEqualTo("Observation/pain");
    assertThat(extended.groupCount()).isEqualTo(ClinicalSynonyms.bundled().groupCount() + 1);
    assertThat(best(new Relevance(extended), "What did the scale reading say?")).isEqualTo("Observation/weight");
    assertThat(best(new Relevance(extended), "How much does she weigh?")).isEqualTo("Observation/weight");
    assertThatThrownBy(() -> ClinicalSynonyms.bundledPlus(dir.resolve("missing.txt")))
        .isInstanceOf(UncheckedIOException.class).hasMessageContaining("missing.txt");
  }
}
