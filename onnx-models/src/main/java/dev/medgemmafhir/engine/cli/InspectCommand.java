package dev.medgemmafhir.engine.cli;

import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.model.GraphInfo;
import dev.medgemmafhir.engine.model.ModelConfig;
import dev.medgemmafhir.engine.model.ModelDirectory;
import dev.medgemmafhir.engine.model.Variant;
import dev.medgemmafhir.engine.prompt.PromptTokenizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code inspect}: what a user checks after a download: layout, variants, graphs, special tokens, context. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Load a model directory and describe it: layout, variants, graph inputs and outputs, special tokens, context length.")
final class InspectCommand implements Callable<Integer> {

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--digest", description = "Also compute the weights digest (reads every weight file).")
    boolean digest;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (MedGemmaModel model = modelOptions.load()) {
            ModelDirectory dir = model.directory();
            ModelConfig c = model.config();
            out.println("directory:      " + dir.path());
            out.println("model:          " + model.identity().modelId() + model.identity().revision().map(r -> " @ " + r).orElse(""));
            out.println("model type:     " + c.modelType());
            out.println("layout:         " + dir.layout());
            out.println("variants:       " + (dir.variants().isEmpty() ? model.variant()
                    : dir.variants().stream().map(Variant::id).collect(Collectors.joining(", "))) + " (loaded: " + model.variant() + ")");
            out.println("context length: " + model.contextLength());
            out.println("images:         " + (model.acceptsImages() ? c.imageSeqLength() + " tokens per image" : "no (text only)"));
            out.println("provider:       " + model.executionProvider());
            out.println("special tokens:");
            PromptTokenizer t = model.tokenizer();
            out.println("  " + pad("bos") + token(t, c.bosToken()));
            out.println("  " + pad("eos ids") + c.eosIds());
            for (String s : List.of("<start_of_turn>", "<end_of_turn>")) {
                out.println("  " + pad(s) + t.singleTokenId(s));
            }
            if (model.acceptsImages()) {
                out.println("  " + pad(c.boiToken()) + t.singleTokenId(c.boiToken()));
                out.println("  " + pad(c.eoiToken()) + t.singleTokenId(c.eoiToken()));
                out.println("  " + pad(c.imageToken()) + c.imageTokenId());
            }
            out.println("graphs:");
            for (GraphInfo g : model.graphs()) {
                out.println("  " + dir.path().relativize(g.file()));
                List<Path> data = ModelDirectory.externalData(g.file());
                if (!data.isEmpty()) {
                    out.println("    external data: " + data.stream().map(p -> p.getFileName().toString()).collect(Collectors.joining(", ")));
                }
                print(out, "inputs", g.inputs());
                print(out, "outputs", g.outputs());
            }
            if (digest) {
                out.println("weights digest: " + model.identity().digest());
            }
            out.flush();
            return 0;
        } catch (EngineException | IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
    }

    private static void print(PrintWriter out, String title, Map<String, String> tensors) {
        out.println("    " + title + ":");
        tensors.forEach((name, desc) -> out.println("      " + name + ": " + desc));
    }

    private static String token(PromptTokenizer t, String token) {
        return token == null ? "(none)" : token + " = " + t.singleTokenId(token);
    }

    private static String pad(String s) {
        return String.format("%-19s ", s);
    }
}
