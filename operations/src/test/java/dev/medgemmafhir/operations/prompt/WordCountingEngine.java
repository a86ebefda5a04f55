package dev.medgemmafhir.operations.prompt;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import java.util.Optional;

/** A scripted engine whose "tokens" are whitespace-separated words, so budgets can be computed by hand. */
final class WordCountingEngine implements Engine {

  private final int contextLength;
  private final String answer;

  WordCountingEngine(int contextLength, String answer) {
    this.contextLength = contextLength;
    this.answer = answer;
  }

  static int words(String text) {
    String t = text.strip();
    return t.isEmpty() ? 0 : t.split("\\s+").length;
  }

  @Override
  public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
    listener.onText(answer);
    return new GenerationResult(answer, new int[countPromptTokens(request)], new int[words(answer)],
        StopReason.END_OF_SEQUENCE, 1, 1, "CPU");
  }

  @Override
  public int countTokens(String text) {
    return words(text);
  }

  @Override
  public int countPromptTokens(GenerationRequest request) {
    int total = 0;
    for (ChatMessage message : request.messages()) {
      for (ContentPart part : message.parts()) {
        if (part instanceof ContentPart.Text text) {
          total += words(text.text());
        }
      }
    }
    return total;
  }

  @Override
  public int contextLength() {
    return contextLength;
  }

  @Override
  public ModelIdentity identity() {
    return new ModelIdentity("scripted", "gemma3_text", "none", Optional.empty(), () -> "sha256:0");
  }

  @Override
  public void close() {}
}
