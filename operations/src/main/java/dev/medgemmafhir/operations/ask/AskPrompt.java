package dev.medgemmafhir.operations.ask;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.operations.prompt.PromptText;
import java.util.ArrayList;
import java.util.List;

/** The instructions, earlier turns, record facts and question an answer is written from. */
final class AskPrompt {

  /** Part of each stored answer's idempotency key: a changed prompt is a different request. */
  static final String VERSION = "ask-prompt-1";

  /** The sentence the model is told to give when the record does not answer; the README quotes it. */
  static final String NO_ANSWER = "The record does not answer this question.";

  static final String RECORD_SYSTEM = """
      You are a clinical assistant. A clinician asks about one patient's record; you answer from the facts listed.
      Use only the listed facts for anything about this patient; never add a diagnosis, value, date or medication
      that is not listed. After each statement about the patient, cite the facts it rests on by their keys in square
      brackets, for example [C3] or [C3, C7]. If the facts do not answer the question, say exactly:
      "%s" and cite nothing. Answer briefly, in Markdown.""".formatted(NO_ANSWER);

  static final String GENERAL_SYSTEM = """
      You are a medical assistant answering a clinician's general medical question. No patient record is given:
      do not speak about any particular patient. Say so when the evidence is uncertain. Answer briefly, in Markdown.""";

  private AskPrompt() {}

  /**
   * @param header a line about the record that is not a citable fact (the patient's age and sex), or null
   * @param history earlier turns: question, answer, question, answer...
   * @param factLines the facts, each already keyed ({@code [C1] ...}); null for a general question
   */
  static List<ChatMessage> render(String header, List<String> history, String question, List<String> factLines) {
    List<ChatMessage> messages = new ArrayList<>();
    messages.add(ChatMessage.system(factLines == null ? GENERAL_SYSTEM : RECORD_SYSTEM));
    for (int i = 0; i + 1 < history.size(); i += 2) {
      messages.add(ChatMessage.user(PromptText.defuse(history.get(i))));
      messages.add(ChatMessage.assistant(PromptText.defuse(history.get(i + 1))));
    }
    StringBuilder user = new StringBuilder();
    if (factLines != null) {
      if (header != null) {
        user.append(PromptText.defuse(header)).append("\n\n");
      }
      user.append("Facts:\n").append(factLines.isEmpty() ? "(none)" : String.join("\n", factLines)).append("\n\n");
    }
    user.append("Question: ").append(PromptText.defuse(question));
    messages.add(ChatMessage.user(user.toString()));
    return messages;
  }
}
