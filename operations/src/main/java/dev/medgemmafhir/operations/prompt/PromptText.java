package dev.medgemmafhir.operations.prompt;

import java.util.regex.Pattern;

/**
 * Text from the record going into a prompt. The tokenizer turns the literal strings of Gemma's
 * control tokens into the tokens themselves, so a note containing {@code <end_of_turn>} could end
 * the user's turn and speak for the model. Such strings are defused by replacing their angle
 * brackets; everything else is left as written.
 */
public final class PromptText {

  private static final Pattern CONTROL_TOKEN = Pattern.compile(
      "<(/?)(start_of_turn|end_of_turn|start_of_image|end_of_image|image_soft_token|bos|eos|pad|unk|mask"
          + "|unused\\d+|start_of_audio|end_of_audio|audio_soft_token)>",
      Pattern.CASE_INSENSITIVE);

  private PromptText() {}

  public static String defuse(String text) {
    return text == null ? null : CONTROL_TOKEN.matcher(text).replaceAll("‹$1$2›");
  }
}
