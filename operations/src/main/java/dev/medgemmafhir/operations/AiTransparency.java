package dev.medgemmafhir.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import org.hl7.fhir.r4.model.Coding;

/** The FHIR datatypes of HL7 AI Transparency on FHIR that AI-written resources carry; the codes live in {@link AiVocabulary}. */
public final class AiTransparency {

  private AiTransparency() {}

  public static Coding aiast() {
    return new Coding(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, AiVocabulary.AIAST_DISPLAY);
  }
}
