package dev.medgemmafhir.engine.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.TextStreamListener;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;

/** {@code generate}: one prompt (text and images) in, the model's answer out, streamed or as JSON. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate an answer to one prompt. Streams the text, or prints one JSON object with --json.")
final class GenerateCommand implements Callable<Integer> {

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--system", paramLabel = "TEXT", description = "System instruction (folded into the first user turn).")
    String system;

    @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The user's message.")
    String prompt;

    @Option(names = "--image", paramLabel = "FILE", description = "PNG or JPEG image placed before the prompt text; repeatable.")
    List<Path> images = new ArrayList<>();

    @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "256", description = "Default: ${DEFAULT-VALUE}.")
    int maxNewTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "0 = greedy (default); > 0 samples.")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", description = "Top-k when sampling (default: generation_config.json; 0 = off).")
    Integer topK;

    @Option(names = "--top-p", paramLabel = "P", description = "Top-p when sampling (default: generation_config.json; 1 = off).")
    Double topP;

    @Option(names = "--repetition-penalty", paramLabel = "R", defaultValue = "1.0", description = "1 = off. Default: ${DEFAULT-VALUE}.")
    double repetitionPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "Sampling seed, for reproducible samples.")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the text contains this; repeatable.")
    List<String> stops = new ArrayList<>();

    @Option(names = "--json", description = "Print one JSON object instead of streaming text.")
    boolean json;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            List<ContentPart> parts = new ArrayList<>();
            for (Path image : images) {
                parts.add(new ContentPart.Image(readImage(image)));
            }
            parts.add(new ContentPart.Text(prompt));
            List<ChatMessage> messages = new ArrayList<>();
            if (system != null) {
                messages.add(ChatMessage.system(system));
            }
            messages.add(new ChatMessage(ChatMessage.Role.USER, parts));
            GenerationParams params = new GenerationParams(maxNewTokens, temperature, topK, topP, repetitionPenalty,
                    seed == null ? OptionalLong.empty() : OptionalLong.of(seed), stops);
            GenerationRequest request = new GenerationRequest(messages, params);

            try (MedGemmaModel model = modelOptions.load()) {
                Cancellation cancellation = Cancellation.create();
                Thread onCtrlC = new Thread(cancellation::cancel, "medgemma-cancel");
                Runtime.getRuntime().addShutdownHook(onCtrlC);
                TextStreamListener listener = json ? TextStreamListener.NONE : delta -> {
                    out.print(delta);
                    out.flush();
                };
                GenerationResult r = model.generate(request, listener, cancellation);
                try {
                    Runtime.getRuntime().removeShutdownHook(onCtrlC);
                } catch (IllegalStateException shuttingDown) {
                    // Ctrl-C arrived: the hook already cancelled, the partial result is printed below.
                }
                if (json) {
                    out.println(toJson(r, model));
                } else {
                    out.println();
                    err.printf(Locale.ROOT, "[%s; %d prompt tokens, %d generated; prefill %.0f ms; %.1f tokens/s on %s]%n",
                            r.stopReason().name().toLowerCase(Locale.ROOT), r.promptTokenIds().length, r.generatedTokenIds().length,
                            r.prefillMillis(), r.decodeTokensPerSecond(), r.executionProvider());
                }
                out.flush();
                return 0;
            }
        } catch (InvalidInputException | IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            return 2;
        } catch (EngineException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
    }

    private static byte[] readImage(Path image) {
        try {
            return Files.readAllBytes(image);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read image " + image + ": " + e.getMessage(), e);
        }
    }

    static String toJson(GenerationResult r, MedGemmaModel model) {
        ObjectMapper mapper = new ObjectMapper();
        ObjectNode o = mapper.createObjectNode();
        o.put("model", model.identity().modelId());
        o.put("variant", model.variant());
        o.set("prompt_token_ids", mapper.valueToTree(r.promptTokenIds()));
        o.set("generated_token_ids", mapper.valueToTree(r.generatedTokenIds()));
        o.put("text", r.text());
        o.put("stop_reason", r.stopReason().name().toLowerCase(Locale.ROOT));
        o.put("prefill_ms", r.prefillMillis());
        o.put("decode_ms", r.decodeMillis());
        o.put("decode_tokens_per_s", r.decodeTokensPerSecond());
        o.put("execution_provider", r.executionProvider());
        return o.toString();
    }
}
