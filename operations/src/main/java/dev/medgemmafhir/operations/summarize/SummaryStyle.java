package dev.medgemmafhir.operations.summarize;

import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import java.util.Arrays;
import java.util.Locale;

/** The kinds of summary {@code $summarize} writes, with the document type each one is filed as. */
public enum SummaryStyle {
  BRIEF("brief", "34133-9", "Summary of episode note",
      "Write a brief summary of this encounter for a clinician: at most ten short bullet points, most important first."),
  DISCHARGE("discharge", "18842-5", "Discharge summary",
      "Write a discharge summary of this encounter with the sections: Reason for encounter, Course, Diagnoses,"
          + " Procedures, Medications, Follow-up. Leave out a section that has no facts."),
  HANDOFF("handoff", "18761-7", "Transfer summary note",
      "Write a handoff for the clinician taking over care, in the I-PASS order: Illness severity, Patient summary,"
          + " Action list, Situation awareness, Synthesis.");

  private final String code;
  private final String loinc;
  private final String loincDisplay;
  private final String instruction;

  SummaryStyle(String code, String loinc, String loincDisplay, String instruction) {
    this.code = code;
    this.loinc = loinc;
    this.loincDisplay = loincDisplay;
    this.instruction = instruction;
  }

  public String code() {
    return code;
  }

  public String loinc() {
    return loinc;
  }

  public String loincDisplay() {
    return loincDisplay;
  }

  public String instruction() {
    return instruction;
  }

  public static SummaryStyle fromCode(String code) {
    if (code == null || code.isBlank()) {
      return BRIEF;
    }
    String wanted = code.strip().toLowerCase(Locale.ROOT);
    return Arrays.stream(values()).filter(s -> s.code.equals(wanted)).findFirst()
        .orElseThrow(() -> new InvalidRequestException(
            "Unknown style '" + code + "'; use one of brief, discharge, handoff"));
  }
}
