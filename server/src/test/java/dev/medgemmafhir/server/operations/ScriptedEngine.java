package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

/**
 * An engine behind the same interface as the real one, answering from a script: tests use it to
 * see the prompt an operation built and to make generation fail. One token is four characters; an
 * image costs {@code tokensPerImage} (or is refused, like a text-only model).
 */
public final class ScriptedEngine implements Engine {

  private final String name;
  private final Function<GenerationRequest, String> script;
  private final int contextLength;
  private final Integer tokensPerImage;
  final List<GenerationRequest> requests = new CopyOnWriteArrayList<>();

  private ScriptedEngine(String name, Function<GenerationRequest, String> script, int contextLength,
      Integer tokensPerImage) {
    this.name = name;
    this.script = script;
    this.contextLength = contextLength;
    this.tokensPerImage = tokensPerImage;
  }

  /** An image-text engine that answers {@code script(request)}; the script may throw. */
  public static ScriptedEngine images(String name, int contextLength, int tokensPerImage,
      Function<GenerationRequest, String> script) {
    return new ScriptedEngine(name, script, contextLength, tokensPerImage);
  }

  /** A text-only engine. */
  public static ScriptedEngine textOnly(String name, Function<GenerationRequest, String> script) {
    return new ScriptedEngine(name, script, 4096, null);
  }

  @Override
  public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
    requests.add(request);
    String text = script.apply(request);
    listener.onText(text);
    return new GenerationResult(text, new int[countPromptTokens(request)], new int[] {7, 8, 1},
        StopReason.END_OF_SEQUENCE, 1, 1, "CPU");
  }

  @Override
  public int countTokens(String text) {
    return (text.length() + 3) / 4;
  }

  @Override
  public int countPromptTokens(GenerationRequest request) {
    int tokens = 2;
    for (var message : request.messages()) {
      for (ContentPart part : message.parts()) {
        if (part instanceof ContentPart.Text text) {
          tokens += countTokens(text.text());
        } else if (tokensPerImage == null) {
          throw new InvalidInputException("this model takes no images (text-only model directory)");
        } else {
          tokens += tokensPerImage;
        }
      }
    }
    return tokens;
  }

  /** All text parts of the last request, in order. */
  String lastPromptText() {
    StringBuilder text = new StringBuilder();
    for (var message : requests.get(requests.size() - 1).messages()) {
      for (ContentPart part : message.parts()) {
        if (part instanceof ContentPart.Text t) {
          text.append(t.text()).append('\n');
        }
      }
    }
    return text.toString();
  }

  /** The images of the last request. */
  List<byte[]> lastImages() {
    return requests.get(requests.size() - 1).messages().stream().flatMap(m -> m.parts().stream())
        .filter(p -> p instanceof ContentPart.Image).map(p -> ((ContentPart.Image) p).encoded()).toList();
  }

  @Override
  public int contextLength() {
    return contextLength;
  }

  @Override
  public ModelIdentity identity() {
    return new ModelIdentity("scripted/" + name, "scripted", "none", Optional.empty(), () -> "sha256:" + name);
  }

  @Override
  public void close() {}
}
