package dev.medgemmafhir.operations.draftreport;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ImpressionTest {

  @Test
  void takesTheSectionUnderAnImpressionHeadingUpToTheNextHeading() {
    String report = """
        ## Findings
        The lungs are clear. No effusion.

        ## Impression
        1. No acute cardiopulmonary process.
        2. Stable cardiomegaly.

        ## Recommendations
        None.""";
    assertThat(Impression.of(report)).isEqualTo("1. No acute cardiopulmonary process.\n2. Stable cardiomegaly.");
  }

  @Test
  void readsBoldAndUpperCaseLabelsWithTextOnTheSameLine() {
    assertThat(Impression.of("**Findings:** clear lungs.\n**Impression:** No acute disease.\n"))
        .isEqualTo("No acute disease.");
    assertThat(Impression.of("FINDINGS: Normal.\nIMPRESSION: Normal chest radiograph.\nDictated by AI."))
        .isEqualTo("Normal chest radiograph.\nDictated by AI.");
    assertThat(Impression.of("**Impression**\nSmall left effusion.\n\n**Comparison**: none"))
        .isEqualTo("Small left effusion.");
  }

  @Test
  void aMentionOfTheWordInsideFindingsIsNotASection() {
    String report = "Findings\nThe impression of a mass is not confirmed.\n\nOverall normal study.";
    assertThat(Impression.of(report)).isEqualTo("Overall normal study.");
  }

  @Test
  void withoutAnImpressionTheLastParagraphIsTaken() {
    assertThat(Impression.of("First paragraph.\n\nSecond\nparagraph.  \n\n")).isEqualTo("Second\nparagraph.");
    assertThat(Impression.of("only one line")).isEqualTo("only one line");
  }

  @Test
  void anEmptyImpressionSectionFallsBackToTheLastParagraphWithText() {
    assertThat(Impression.of("## Findings\nClear.\n\n## Impression\n")).isEqualTo("Clear.");
    assertThat(Impression.of("## Findings")).isEmpty();
  }
}
