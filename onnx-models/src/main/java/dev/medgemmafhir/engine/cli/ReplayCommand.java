package dev.medgemmafhir.engine.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.model.ModelDirectory;
import dev.medgemmafhir.engine.replay.FhirRest;
import dev.medgemmafhir.engine.replay.Replay;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code replay --server URL --provenance ID --model DIR}: re-runs the stored prompt of an AI
 * draft with a local copy of the model and reports whether the same tokens come out. Exit code 0
 * identical, 1 different, 3 not reproducible (the weights are not the recorded ones, or nothing
 * was stored to replay), 2 error.
 */
@Command(name = "replay", mixinStandardHelpOptions = true,
        description = {"Re-run the stored prompt of an AI draft (from its Provenance) on a local copy of the model.",
                "Exit code: 0 identical, 1 different, 3 not reproducible, 2 error."})
final class ReplayCommand implements Callable<Integer> {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--server", required = true, paramLabel = "URL", description = "FHIR base URL, e.g. https://fhir.example.org/fhir.")
    String server;

    @Option(names = "--provenance", required = true, paramLabel = "ID", description = "The draft's Provenance (id or Provenance/id).")
    String provenance;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "File holding a bearer token (needs Provenance, Device and DocumentReference read). "
                    + "Default: the MEDGEMMA_FHIR_TOKEN environment variable, if set.")
    Path tokenFile;

    @Option(names = "--json", description = "Print one JSON object instead of text.")
    boolean json;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try {
            FhirRest fhir = new FhirRest(server, token(tokenFile), Duration.ofMinutes(2));
            Replay.Recorded recorded = Replay.fetch(fhir, provenance);
            Optional<String> conversion = localConversionRecord(modelOptions.model);
            Replay.Report report = Replay.run(recorded,
                    variant -> MedGemmaModel.weightsDigest(modelOptions.model, modelOptions.dtype != null ? modelOptions.dtype : variant),
                    variant -> MedGemmaModel.load(modelOptions.model,
                    modelOptions.dtype != null ? modelOptions.dtype : variant, modelOptions.runtime()), conversion);
            if (json) {
                ObjectNode o = JSON.createObjectNode();
                o.put("verdict", report.verdict().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
                o.put("message", report.message());
                o.put("draft", report.draft());
                o.put("recordedTokens", report.recordedTokens());
                o.put("replayedTokens", report.replayedTokens());
                o.put("firstDifference", report.firstDifference());
                out.println(JSON.writeValueAsString(o));
            } else {
                out.println(report.draft() + ": " + report.message());
                if (report.verdict() == Replay.Verdict.DIFFERENT) {
                    out.println("recorded: " + report.recordedText());
                    out.println("replayed: " + report.replayedText());
                }
            }
            out.flush();
            return report.verdict().exitCode;
        } catch (FhirRest.FhirException | IllegalArgumentException | IOException e) {
            err.println("replay failed: " + e.getMessage());
            err.flush();
            return 2;
        } catch (RuntimeException e) {
            err.println("replay failed: " + e);
            err.flush();
            return 2;
        }
    }

    /** The token from a file, else from the environment; never from the command line (it would show in ps). */
    static String token(Path file) throws IOException {
        if (file != null) {
            return Files.readString(file, StandardCharsets.UTF_8).strip();
        }
        return System.getenv("MEDGEMMA_FHIR_TOKEN");
    }

    private static Optional<String> localConversionRecord(Path dir) throws IOException {
        Path file = dir.resolve(ModelDirectory.CONVERSION_RECORD);
        return Files.isRegularFile(file) ? Optional.of(Files.readString(file, StandardCharsets.UTF_8)) : Optional.empty();
    }
}
