package dev.medgemmafhir.interceptors.labels;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ca.uhn.fhir.rest.server.exceptions.UnprocessableEntityException;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Provenance;
import org.junit.jupiter.api.Test;

class AiLabelProtectionInterceptorTest {

  final AiLabelProtectionInterceptor rules = new AiLabelProtectionInterceptor();

  static DocumentReference aiDraft() {
    DocumentReference doc = new DocumentReference();
    doc.setId("DocumentReference/7/_history/1");
    doc.getMeta().addSecurity(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, "Artificial Intelligence asserted");
    return doc;
  }

  @Test
  void anUpdateThatDropsTheAiLabelIsRejected() {
    DocumentReference updated = aiDraft();
    updated.getMeta().getSecurity().clear();
    updated.setDescription("edited");

    assertThatThrownBy(() -> rules.beforeUpdate(aiDraft(), updated))
        .isInstanceOf(UnprocessableEntityException.class)
        .hasMessageContaining("DocumentReference/7")
        .hasMessageContaining("AIAST");
  }

  @Test
  void anUpdateThatKeepsTheLabelAndUpdatesOfOtherResourcesPass() {
    DocumentReference updated = aiDraft().setDescription("edited");
    assertThatCode(() -> rules.beforeUpdate(aiDraft(), updated)).doesNotThrowAnyException();

    DocumentReference plain = new DocumentReference();
    plain.setId("DocumentReference/8");
    assertThatCode(() -> rules.beforeUpdate(plain, new DocumentReference())).doesNotThrowAnyException();
  }

  @Test
  void anAiProvenanceCanBeNeitherChangedNorDeletedButOtherProvenancesCan() {
    Provenance ai = new Provenance();
    ai.setId("Provenance/3");
    ai.getMeta().addProfile(AiVocabulary.AI_PROVENANCE_PROFILE);

    assertThatThrownBy(() -> rules.beforeUpdate(ai, ai.copy())).isInstanceOf(UnprocessableEntityException.class)
        .hasMessageContaining("Provenance/3");
    assertThatThrownBy(() -> rules.beforeDelete(ai)).isInstanceOf(UnprocessableEntityException.class);

    Provenance plain = new Provenance();
    plain.setId("Provenance/4");
    assertThatCode(() -> rules.beforeDelete(plain)).doesNotThrowAnyException();
  }
}
