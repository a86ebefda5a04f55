package dev.medgemmafhir.operations.draftreport;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.operations.prompt.PromptText;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/** The instructions, the study's description and the images a draft report is written from. */
final class ReportPrompt {

  /** Part of each draft's idempotency key: a changed prompt is a different request. */
  static final String VERSION = "draft-report-prompt-1";

  static final String SYSTEM = """
      You are a radiology assistant. You draft reports that a radiologist will check and sign.
      Describe only what the images show; never invent prior studies, measurements or history that you are not given.
      Write Markdown with two sections: "## Findings" and "## Impression". The impression is a few short numbered
      lines, the most important first.""";

  private ReportPrompt() {}

  /**
   * @param pixels each image's content part: its bytes, or a placeholder when only counting tokens
   */
  static List<ChatMessage> render(String study, String indication, List<ReportImage> images,
      Function<ReportImage, ContentPart> pixels) {
    List<ContentPart> parts = new ArrayList<>();
    parts.add(new ContentPart.Text("Study: " + PromptText.defuse(study) + "\nClinical indication: " + PromptText.defuse(indication)
        + "\n\nImages (" + images.size() + "):"));
    for (int i = 0; i < images.size(); i++) {
      parts.add(new ContentPart.Text("\nImage " + (i + 1) + ": " + PromptText.defuse(images.get(i).label())));
      parts.add(pixels.apply(images.get(i)));
    }
    parts.add(new ContentPart.Text("\nWrite the draft report."));
    return List.of(ChatMessage.system(SYSTEM), new ChatMessage(ChatMessage.Role.USER, parts));
  }

  /** Stands in for an image whose pixels are not fetched yet: the prompt's length does not depend on them. */
  static ContentPart placeholder(ReportImage image) {
    return new ContentPart.Image(new byte[0]);
  }
}
