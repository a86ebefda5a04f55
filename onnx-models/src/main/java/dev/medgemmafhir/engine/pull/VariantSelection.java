package dev.medgemmafhir.engine.pull;

import java.nio.file.FileSystems;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Picks the files of one model variant out of a repository that holds many.
 *
 * <p>A transformers.js export keeps every quantization side by side ({@code onnx/model.onnx},
 * {@code onnx/model_q4.onnx}, {@code onnx/model_fp16.onnx_data}, ...); pulling all of them would
 * cost tens of gigabytes for nothing. An onnxruntime-genai export ({@code genai_config.json}) is
 * one variant per folder, so there the folder is the choice.
 */
public final class VariantSelection {

  /** Quantization names accepted on the command line, mapped to the file-name suffix. */
  private static final Map<String, String> SUFFIXES = new LinkedHashMap<>();

  static {
    SUFFIXES.put("fp32", "");
    SUFFIXES.put("fp16", "_fp16");
    SUFFIXES.put("q4", "_q4");
    SUFFIXES.put("q4f16", "_q4f16");
    SUFFIXES.put("int8", "_int8");
    SUFFIXES.put("uint8", "_uint8");
    SUFFIXES.put("q8", "_quantized");
    SUFFIXES.put("quantized", "_quantized");
    SUFFIXES.put("bnb4", "_bnb4");
  }

  /**
   * Splits {@code onnx/<base><suffix>.onnx[_data[_N]]}; longer suffixes come first in the
   * alternation so {@code _q4f16} is not read as {@code _q4} followed by junk.
   */
  private static final Pattern ONNX_FILE = Pattern.compile(
      "onnx/(.+?)(_fp16|_q4f16|_q4|_int8|_uint8|_quantized|_bnb4)?\\.onnx(_data(_\\d+)?)?");

  /** Small files next to the graphs that the engine reads (configs, tokenizer, chat template). */
  private static final Set<String> SUPPORT_EXTENSIONS = Set.of("json", "jinja", "model", "txt", "md");

  /** One chosen file and where it goes inside the model directory. */
  public record Selected(HubFile file, String localPath) {}

  /** The outcome: the files, and which layout the repository turned out to have. */
  public record Result(List<Selected> files, String layout) {}

  private VariantSelection() {}

  /** The dtype names this class understands, for help texts and error messages. */
  /**
   * The dtype that selects a Hugging Face checkpoint instead of ONNX graphs: the root's
   * {@code *.safetensors}, {@code model.safetensors.index.json}, tokenizer and configs
   * ({@code models pull --convert} converts them afterwards).
   */
  public static final String CHECKPOINT = "safetensors";

  public static Set<String> dtypes() {
    return SUFFIXES.keySet();
  }

  /**
   * @param files     every file of the snapshot
   * @param dtype     quantization name (see {@link #dtypes()}), used for transformers.js layouts
   * @param subfolder repository folder that is the model's root (e.g. {@code cuda/} of a genai
   *                  export), or null for the repository root; its prefix is dropped locally
   * @param includes  extra glob patterns (repository paths) to pull as well
   */
  public static Result select(List<HubFile> files, String dtype, String subfolder, List<String> includes)
      throws PullException {
    String prefix = subfolder == null || subfolder.isBlank() ? "" : strip(subfolder) + "/";
    List<HubFile> scoped = new ArrayList<>();
    for (HubFile f : files) {
      if (f.path().startsWith(prefix) && !f.name().equals(".gitattributes")) {
        scoped.add(f);
      }
    }
    if (scoped.isEmpty()) {
      throw new PullException("The repository has no files under '" + prefix + "'");
    }

    Map<String, Selected> chosen = new LinkedHashMap<>();
    String layout;
    boolean genai = scoped.stream().anyMatch(f -> f.path().equals(prefix + "genai_config.json"));
    if (CHECKPOINT.equals(dtype)) {
      layout = "Hugging Face checkpoint";
      for (HubFile f : scoped) {
        String local = f.path().substring(prefix.length());
        if (!local.contains("/") && (local.endsWith(".safetensors") || SUPPORT_EXTENSIONS.contains(extension(local)))) {
          chosen.put(f.path(), new Selected(f, local));
        }
      }
      if (chosen.values().stream().noneMatch(s -> s.localPath().endsWith(".safetensors"))) {
        throw new PullException("No *.safetensors weights under '" + prefix + "' to convert");
      }
    } else if (genai) {
      // onnxruntime-genai: the folder is one variant already; take it whole.
      layout = "onnxruntime-genai";
      for (HubFile f : scoped) {
        chosen.put(f.path(), new Selected(f, f.path().substring(prefix.length())));
      }
    } else {
      layout = "transformers.js";
      String key = dtype == null ? "q4" : dtype.toLowerCase(Locale.ROOT);
      String suffix = SUFFIXES.get(key);
      if (suffix == null) {
        throw new PullException("Unknown dtype '" + dtype + "'; use one of " + SUFFIXES.keySet());
      }
      Set<String> available = new TreeSet<>();
      for (HubFile f : scoped) {
        String local = f.path().substring(prefix.length());
        Matcher m = ONNX_FILE.matcher(local);
        if (m.matches()) {
          String fileSuffix = m.group(2) == null ? "" : m.group(2);
          available.add(dtypeOf(fileSuffix));
          if (fileSuffix.equals(suffix)) {
            chosen.put(f.path(), new Selected(f, local));
          }
        } else if (!local.contains("/") && SUPPORT_EXTENSIONS.contains(extension(local))) {
          chosen.put(f.path(), new Selected(f, local));
        }
      }
      boolean anyGraph = chosen.values().stream().anyMatch(s -> s.localPath().startsWith("onnx/"));
      if (!anyGraph) {
        if (available.isEmpty()) {
          List<String> genaiConfigs = scoped.stream().map(HubFile::path)
              .filter(p -> p.endsWith("/genai_config.json")).toList();
          throw new PullException("No onnx/*.onnx graphs under '" + prefix + "'"
              + (genaiConfigs.isEmpty() ? "" : "; onnxruntime-genai variants found at "
                  + genaiConfigs + " (choose one with --subfolder)"));
        }
        throw new PullException("The repository has no '" + key + "' variant; available: " + available);
      }
    }

    for (String glob : includes == null ? List.<String>of() : includes) {
      PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + glob);
      for (HubFile f : scoped) {
        if (matcher.matches(Path.of(f.path()))) {
          chosen.putIfAbsent(f.path(), new Selected(f, f.path().substring(prefix.length())));
        }
      }
    }
    return new Result(List.copyOf(chosen.values()), layout);
  }

  private static String dtypeOf(String suffix) {
    for (Map.Entry<String, String> e : SUFFIXES.entrySet()) {
      if (e.getValue().equals(suffix)) {
        return e.getKey();
      }
    }
    return suffix;
  }

  private static String extension(String name) {
    int dot = name.lastIndexOf('.');
    return dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
  }

  private static String strip(String folder) {
    String s = folder.replace('\\', '/');
    while (s.startsWith("/")) {
      s = s.substring(1);
    }
    while (s.endsWith("/")) {
      s = s.substring(0, s.length() - 1);
    }
    return s;
  }
}
