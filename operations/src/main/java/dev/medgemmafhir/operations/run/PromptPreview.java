package dev.medgemmafhir.operations.run;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationRequest;
import java.util.Locale;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.StringType;

/** The start of every dry run's answer: each message's text (an image as {@code <image>}), the prompt's length and the answer's limit. */
public final class PromptPreview {

  private PromptPreview() {}

  public static Parameters of(GenerationRequest request, int promptTokens) {
    Parameters preview = new Parameters();
    for (ChatMessage message : request.messages()) {
      StringBuilder text = new StringBuilder();
      message.parts().forEach(p -> text.append(p instanceof ContentPart.Text t ? t.text() : "<image>"));
      preview.addParameter(message.role().name().toLowerCase(Locale.ROOT), new StringType(text.toString()));
    }
    preview.addParameter("promptTokens", new IntegerType(promptTokens));
    preview.addParameter("maxTokens", new IntegerType(request.params().maxNewTokens()));
    return preview;
  }
}
