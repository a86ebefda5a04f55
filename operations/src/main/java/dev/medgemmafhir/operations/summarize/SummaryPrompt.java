package dev.medgemmafhir.operations.summarize;

import dev.medgemmafhir.engine.ChatMessage;
import java.util.List;

/** The instructions and fact list a summary is written from. */
final class SummaryPrompt {

  /** Part of each draft's idempotency key: a changed prompt is a different request. */
  static final String VERSION = "summary-prompt-1";

  static final String SYSTEM = """
      You are a clinical documentation assistant. You write drafts that a clinician will check.
      Use only the facts listed below; never add a diagnosis, value or medication that is not listed.
      After each statement, cite the facts it rests on by their keys in square brackets, for example [C3] or [C3, C7].
      Write Markdown.""";

  private SummaryPrompt() {}

  static List<ChatMessage> render(SummaryStyle style, List<String> factLines) {
    String user = style.instruction() + "\n\nFacts:\n" + String.join("\n", factLines);
    return List.of(ChatMessage.system(SYSTEM), ChatMessage.user(user));
  }
}
