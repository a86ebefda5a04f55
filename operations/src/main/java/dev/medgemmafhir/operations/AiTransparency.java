package dev.medgemmafhir.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import org.hl7.fhir.r4.model.Coding;

/** The FHIR datatypes of HL7 AI Transparency on FHIR that AI-written resources carry; the codes live in {@link AiVocabulary}. */
public final class AiTransparency {

  private AiTransparency() {}

  public static Coding aiast() {
    return new Coding(AiVocabulary.OBSERVATION_VALUE, AiVocabulary.AIAST, AiVocabulary.AIAST_DISPLAY);
  }

  /** A code of the IG's AIdeviceTypeCS, as the profiles fix it (system and code, no display). */
  public static Coding aiDeviceType(String code) {
    return new Coding().setSystem(AiVocabulary.AI_DEVICE_TYPE_SYSTEM).setCode(code);
  }

  /** A code of the IG's AIinputsCS (system and code only: the profiles fix it exactly). */
  public static Coding aiInputs(String code) {
    return new Coding().setSystem(AiVocabulary.AI_INPUTS_SYSTEM).setCode(code);
  }
}
