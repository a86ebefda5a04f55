package dev.medgemmafhir.operations.citations;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CitationsTest {

  final Map<String, String> keys = new LinkedHashMap<>(Map.of(
      "C1", "Encounter/9/_history/2",
      "C2", "Condition/7/_history/1",
      "C3", "Observation/4/_history/3"));

  @Test
  void knownKeysBecomeReferencesInOrderOfFirstCitation() {
    Citations.Resolved r = Citations.resolve("Chest pain [C3]. Known hypertension [C2, C3]; seen today [C1].", keys);
    assertThat(r.cited()).containsExactly("Observation/4/_history/3", "Condition/7/_history/1", "Encounter/9/_history/2");
    assertThat(r.citedKeys()).containsExactly("C3", "C2", "C1");
    assertThat(r.unknownKeys()).isZero();
    assertThat(r.text()).isEqualTo("Chest pain [C3]. Known hypertension [C2, C3]; seen today [C1].");
  }

  @Test
  void unknownKeysAreDroppedFromTheTextAndCounted() {
    Citations.Resolved r = Citations.resolve("Fever [C9]. Cough [C2; C12] and rash [ C44 ].", keys);
    assertThat(r.text()).isEqualTo("Fever. Cough [C2] and rash.");
    assertThat(r.unknownKeys()).isEqualTo(3);
    assertThat(r.cited()).containsExactly("Condition/7/_history/1");
  }

  @Test
  void duplicatesWithinAGroupAreCitedOnce() {
    Citations.Resolved r = Citations.resolve("A [C1, C1, C2]", keys);
    assertThat(r.text()).isEqualTo("A [C1, C2]");
    assertThat(r.citedKeys()).containsExactly("C1", "C2");
  }

  @Test
  void sourcesListSpellsOutEachCitedKey() {
    Citations.Resolved r = Citations.resolve("B [C2]", keys);
    assertThat(Citations.withSources(r, keys))
        .isEqualTo("B [C2]\n\n---\n\n**Sources**\n\n- [C2] Condition/7/_history/1\n");
    assertThat(Citations.withSources(r, keys, Map.of("C2", "Condition (active, onset 2019-03-02): Hypertension")))
        .isEqualTo("B [C2]\n\n---\n\n**Sources**\n\n"
            + "- [C2] Condition (active, onset 2019-03-02): Hypertension (Condition/7/_history/1)\n");
    Citations.Resolved none = Citations.resolve("No citations here", keys);
    assertThat(Citations.withSources(none, keys)).isEqualTo("No citations here");
  }
}
