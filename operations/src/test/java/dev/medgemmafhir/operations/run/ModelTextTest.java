package dev.medgemmafhir.operations.run;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ModelTextTest {

  @Test
  void controlCharactersThatXmlCannotCarryAreDroppedLineBreaksTabsAndUnicodeStay() {
    assertThat(ModelText.clean("clear\u0005 lungs\u0000\u001b[0m\r\nnext\tline\u0085 \uD83E\uDEC1 é\uFFFF\uD800"))
        .isEqualTo("clear lungs[0m\nnext\tline \uD83E\uDEC1 é");
  }
}
