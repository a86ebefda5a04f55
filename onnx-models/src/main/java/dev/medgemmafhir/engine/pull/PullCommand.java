package dev.medgemmafhir.engine.pull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.medgemmafhir.engine.convert.ConversionException;
import dev.medgemmafhir.engine.convert.ConversionOptions;
import dev.medgemmafhir.engine.convert.ConversionProgress;
import dev.medgemmafhir.engine.convert.Converter;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code models pull}: fetch one variant of a model repository into a model directory. */
@Command(name = "pull",
    mixinStandardHelpOptions = true,
    description = {
        "Download one variant of a model from a Hugging Face-compatible hub into a model directory.",
        "The directory appears only when every file is downloaded and verified; an interrupted",
        "pull resumes where it stopped when run again. An existing directory made by an earlier",
        "identical pull is left as it is, so the command is safe to run in every pod start.",
        "Gated models (MedGemma, Gemma): accept the licence on the model's hub page first and",
        "set HF_TOKEN to a read token of that account."},
    footer = {
        "",
        "Environment:",
        "  HF_ENDPOINT  hub base URL (default https://huggingface.co)",
        "  HF_TOKEN     access token for gated or private repositories",
        "",
        "Exit codes: 0 done or nothing to do, 1 failed, 2 usage error, 3 access denied."})
public class PullCommand implements Callable<Integer> {

  /** Exit code when the hub refuses access: retrying will not help, a token or licence will. */
  public static final int EXIT_ACCESS_DENIED = 3;

  @Parameters(index = "0", paramLabel = "REPO", description = "Repository, owner/name (e.g. onnx-community/gemma-3-1b-it-ONNX).")
  String repo;

  @Option(names = {"-r", "--revision"}, defaultValue = "main", description = "Branch, tag or commit (default: ${DEFAULT-VALUE}).")
  String revision;

  @Option(names = {"-d", "--dtype"}, defaultValue = "q4",
      description = "Quantization to keep for transformers.js layouts: fp32, fp16, q4, q4f16, int8, uint8, q8, bnb4 (default: ${DEFAULT-VALUE}).")
  String dtype;

  @Option(names = {"-o", "--to"}, paramLabel = "DIR",
      description = "Model directory to create (default: models/<name of the repository>).")
  Path target;

  @Option(names = "--subfolder", description = "Repository folder that holds the model, e.g. an onnxruntime-genai variant folder.")
  String subfolder;

  @Option(names = "--include", paramLabel = "GLOB", description = "Also pull repository files matching this glob (repeatable).")
  List<String> includes = new ArrayList<>();

  @Option(names = "--force", description = "Replace the directory even if it already exists.")
  boolean force;

  @Option(names = "--endpoint", description = "Hub base URL (default: $HF_ENDPOINT or https://huggingface.co).")
  String endpoint;

  @Option(names = "--retries", defaultValue = "5", description = "Tries per file before giving up (default: ${DEFAULT-VALUE}).")
  int retries;

  @Option(names = "--convert", paramLabel = "DTYPE",
      description = "Pull the Hugging Face checkpoint (safetensors, tokenizer, configs) instead of ONNX graphs and convert it"
          + " with 'models convert' to this dtype (q4 or fp32); the checkpoint is deleted afterwards unless --keep-source.")
  String convert;

  @Option(names = "--attention", defaultValue = ConversionOptions.DEFAULT_ATTENTION,
      description = "With --convert: fused (ONNX Runtime's fused attention ops) or standard (plain ONNX ops) (default: ${DEFAULT-VALUE}).")
  String attention;

  @Option(names = "--keep-source", description = "With --convert: keep the pulled checkpoint beside the model (DIR.checkpoint).")
  boolean keepSource;

  @Option(names = {"-q", "--quiet"}, description = "No progress output.")
  boolean quiet;

  // The token is read from the environment only: a command-line argument would show in `ps`
  // and in the pod spec.
  Map<String, String> environment = System.getenv();

  @Override
  public Integer call() throws Exception {
    String base = endpoint != null ? endpoint : environment.getOrDefault("HF_ENDPOINT", "https://huggingface.co");
    HubClient hub = new HubClient(URI.create(base), environment.get("HF_TOKEN"));
    Path dir = target != null ? target : Path.of("models", repo.substring(repo.indexOf('/') + 1));
    PullProgress progress = quiet ? PullProgress.SILENT : ProgressBar.onStderr();
    if (convert != null) {
      return pullAndConvert(hub, dir, progress);
    }
    PullSpec spec;
    try {
      spec = new PullSpec(repo, revision, dtype, subfolder, includes, dir, force);
    } catch (IllegalArgumentException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    ModelPuller puller = new ModelPuller(hub, progress, retries, Duration.ofSeconds(2));
    try {
      ModelPuller.Result result = puller.pull(spec);
      // stdout carries only the directory, so scripts can capture it.
      System.out.println(result.directory());
      return 0;
    } catch (HubAccessDeniedException e) {
      System.err.println("error: " + e.getMessage());
      return EXIT_ACCESS_DENIED;
    } catch (PullException e) {
      System.err.println("error: " + e.getMessage());
      return 1;
    }
  }

  /**
   * Pulls the checkpoint into {@code DIR.checkpoint}, converts it into {@code DIR}, then deletes the
   * checkpoint unless asked to keep it. A directory already converted from this repository with this
   * dtype is left as it is (safe in every pod start).
   */
  private int pullAndConvert(HubClient hub, Path dir, PullProgress progress) {
    ConversionOptions options;
    try {
      options = new ConversionOptions(convert, attention == null ? ConversionOptions.DEFAULT_ATTENTION : attention);
    } catch (ConversionException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
    JsonNode done = Converter.conversionRecord(dir);
    if (done != null && !force && repo.equals(done.path("source").path("repository").asText())
        && options.sameAs(done.path("options"))) {
      System.err.println(dir + " already holds " + repo + " converted to " + options.dtype() + " (" + options.attention()
          + " attention); nothing to do");
      System.out.println(dir.toAbsolutePath().normalize());
      return 0;
    }
    Path source = dir.resolveSibling(dir.getFileName() + ".checkpoint");
    try {
      PullSpec spec = new PullSpec(repo, revision, VariantSelection.CHECKPOINT, subfolder, includes, source, force);
      ModelPuller.Result pulled = new ModelPuller(hub, progress, retries, Duration.ofSeconds(2)).pull(spec);
      if (force && Files.isDirectory(dir)) {
        Converter.deleteRecursively(dir);
      }
      Converter.Result result = Converter.convert(source, dir, options, ConversionProgress.NONE,
          new Converter.Source(repo, pulled.commit() != null ? pulled.commit() : revision));
      if (!keepSource) {
        Converter.deleteRecursively(source);
      }
      System.out.println(result.directory());
      return 0;
    } catch (HubAccessDeniedException e) {
      System.err.println("error: " + e.getMessage());
      return EXIT_ACCESS_DENIED;
    } catch (PullException | ConversionException e) {
      System.err.println("error: " + e.getMessage());
      return 1;
    } catch (java.io.IOException e) {
      System.err.println("error: " + e.getMessage());
      return 1;
    } catch (IllegalArgumentException e) {
      System.err.println("error: " + e.getMessage());
      return 2;
    }
  }
}
