package dev.medgemmafhir.engine.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.eval.EvalReport;
import dev.medgemmafhir.engine.eval.MultipleChoice;
import dev.medgemmafhir.engine.eval.Scores;
import dev.medgemmafhir.engine.eval.ServerEval;
import dev.medgemmafhir.engine.replay.FhirRest;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code eval}: measures a model on a hospital's own data through a running server (summary
 * faithfulness, record QA through {@code $ask}, radiology through {@code $draft-report}) and, with a
 * local model directory, on multiple-choice questions in MedQA's format; every metric split by sex,
 * age band, race and ethnicity with counts. Writes {@code report.json} and {@code report.html}.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Evaluate a model on a server's patients (and MedQA-format questions with a local model).",
                "Writes report.json and report.html (no network needed to view). Exit code 0, or 2 on error."})
final class EvalCommand implements Callable<Integer> {

    @Option(names = "--server", paramLabel = "URL", description = "FHIR base URL of a running medgemma-fhir server.")
    String server;

    @Option(names = "--token-file", paramLabel = "FILE",
            description = "File holding a bearer token (Patient/Encounter/... read, the operations' scopes). Default: $MEDGEMMA_FHIR_TOKEN.")
    Path tokenFile;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Where report.json and report.html go.")
    Path out;

    @Option(names = "--patients", paramLabel = "N", defaultValue = "20", description = "Patients to evaluate. Default: ${DEFAULT-VALUE}.")
    int patients;

    @Option(names = "--encounters-per-patient", paramLabel = "N", defaultValue = "2",
            description = "Summaries per patient (most recent encounters first). Default: ${DEFAULT-VALUE}.")
    int encounters;

    @Option(names = "--max-tokens", paramLabel = "N", description = "maxTokens for each draft (default: the server's).")
    Integer maxTokens;

    @Option(names = "--radiology", paramLabel = "JSONL",
            description = "Studies with reference reports: {\"study\":\"ImagingStudy/ID\",\"reference\":\"...\",\"images\":[\"a.png\"]} per line.")
    Path radiology;

    @Option(names = "--medqa", paramLabel = "JSONL", description = "Multiple-choice questions in MedQA's format (needs --model-dir).")
    Path medqa;

    @Option(names = "--model-dir", paramLabel = "DIR", description = "Local model directory for --medqa.")
    Path modelDir;

    @Option(names = "--provider", paramLabel = "EP", defaultValue = "cpu", description = "cpu or cuda, for --model-dir. Default: ${DEFAULT-VALUE}.")
    String provider;

    @Option(names = "--medqa-max-tokens", paramLabel = "N", defaultValue = "8", description = "Tokens per MedQA answer. Default: ${DEFAULT-VALUE}.")
    int medqaMaxTokens;

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (server == null && medqa == null) {
            err.println("eval needs --server, --medqa (with --model-dir), or both");
            err.flush();
            return 2;
        }
        if (medqa != null && modelDir == null) {
            err.println("--medqa needs --model-dir: the questions are asked of a local model");
            err.flush();
            return 2;
        }
        try {
            List<Scores> metrics = new ArrayList<>();
            List<String> skipped = new ArrayList<>();
            List<String> models = new ArrayList<>();
            Map<String, Integer> counts = new LinkedHashMap<>();
            if (server != null) {
                FhirRest fhir = new FhirRest(server, ReplayCommand.token(tokenFile), Duration.ofMinutes(10));
                ServerEval eval = new ServerEval(fhir, new ServerEval.Options(patients, encounters, maxTokens, radiology));
                eval.run();
                metrics.addAll(eval.metrics());
                skipped.addAll(eval.skipped());
                models.addAll(eval.models());
                counts.putAll(eval.counts());
            }
            if (medqa != null) {
                ModelOptions options = new ModelOptions();
                options.model = modelDir;
                options.provider = provider;
                options.optimization = ai.onnxruntime.OrtSession.SessionOptions.OptLevel.ALL_OPT;
                options.q4AccuracyLevel = 4;
                options.maxBatch = 1;
                List<MultipleChoice.Item> items = MultipleChoice.read(medqa);
                try (MedGemmaModel model = options.load()) {
                    models.add(model.identity().modelId() + " (local, " + model.identity().variant() + ")");
                    metrics.add(MultipleChoice.run(model, items, medqaMaxTokens));
                }
                counts.put("multiple-choice questions", items.size());
                skipped.add("multiple-choice questions have no patient: their accuracy is not split by group");
            }
            ObjectNode report = EvalReport.json(server == null ? "(none)" : server, models, metrics, skipped, counts);
            EvalReport.write(out, report);
            o.println("wrote " + out.resolve("report.html") + " and report.json");
            for (Scores s : metrics) {
                o.printf(java.util.Locale.ROOT, "%s: n=%d mean=%.3f%n", s.name(), s.count(), s.overall().mean());
            }
            skipped.forEach(s -> o.println("skipped: " + s));
            o.flush();
            return 0;
        } catch (FhirRest.FhirException | java.io.IOException | IllegalArgumentException e) {
            err.println("eval failed: " + e.getMessage());
            err.flush();
            return 2;
        }
    }
}
