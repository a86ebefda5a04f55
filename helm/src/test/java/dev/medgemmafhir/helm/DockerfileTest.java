package dev.medgemmafhir.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * No container engine runs in CI, so the image recipes are checked as text for what the chart
 * and a hardened cluster rely on: pinned bases, a numeric non-root user, port 8080, the jar paths
 * the chart's init container calls, writable paths under volumes, and no secrets baked in.
 */
class DockerfileTest {
  private static final Path DOCKER = Path.of("..", "server", "src", "main", "docker");
  private static final Pattern SECRETISH = Pattern.compile("(?i)(PASSWORD|TOKEN|SECRET|API_KEY|CREDENTIAL)");

  /** Instructions with continuation lines joined, comments dropped. */
  private static List<String> instructions(String file) throws IOException {
    String text = Files.readString(DOCKER.resolve(file));
    List<String> out = new ArrayList<>();
    StringBuilder current = new StringBuilder();
    for (String line : text.split("\n")) {
      String trimmed = line.strip();
      if (trimmed.startsWith("#") || trimmed.isEmpty()) {
        continue;
      }
      if (trimmed.endsWith("\\")) {
        current.append(trimmed, 0, trimmed.length() - 1).append(' ');
      } else {
        current.append(trimmed);
        out.add(current.toString());
        current.setLength(0);
      }
    }
    return out;
  }

  private static Map<String, String> args(List<String> instructions) {
    Map<String, String> args = new HashMap<>();
    for (String i : instructions) {
      Matcher m = Pattern.compile("^ARG\\s+(\\w+)=(\\S+)").matcher(i);
      if (m.find()) {
        args.put(m.group(1), m.group(2));
      }
    }
    return args;
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile", "Dockerfile.cuda"})
  void baseImagesArePinnedToExactVersions(String file) throws IOException {
    List<String> ins = instructions(file);
    Map<String, String> args = args(ins);
    List<String> froms = ins.stream().filter(i -> i.startsWith("FROM ")).toList();
    assertFalse(froms.isEmpty());
    for (String from : froms) {
      String image = from.split("\\s+")[1];
      Matcher arg = Pattern.compile("^\\$\\{(\\w+)}$").matcher(image);
      if (arg.matches()) {
        image = args.get(arg.group(1));
      }
      assertTrue(image != null && (image.contains("@sha256:") || image.matches(".+:[^:]*\\d+\\.\\d+[^:]*")),
          "unpinned base image in " + file + ": " + from);
      assertFalse(image.endsWith(":latest"), from);
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile", "Dockerfile.cuda"})
  void runsAsNumericNonRootUserAndExposes8080(String file) throws IOException {
    List<String> ins = instructions(file);
    List<String> users = ins.stream().filter(i -> i.startsWith("USER ")).toList();
    assertFalse(users.isEmpty(), file + " sets no USER");
    // Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
    assertEquals("USER 10001:10001", users.get(users.size() - 1));
    int lastFrom = lastIndex(ins, "FROM ");
    assertTrue(ins.indexOf(users.get(users.size() - 1)) > lastFrom, "USER must be set in the final stage");
    assertTrue(ins.contains("EXPOSE 8080"), file);
    assertTrue(ins.contains("ENTRYPOINT [\"java\", \"-jar\", \"/app/medgemma-fhir-server.jar\"]"), file);
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile", "Dockerfile.cuda"})
  void writablePathsAreVolumesForAReadOnlyRoot(String file) throws IOException {
    List<String> ins = instructions(file);
    assertTrue(ins.contains("VOLUME [\"/tmp\", \"/app/data\", \"/models\"]"), file);
    String env = String.join(" ", ins.stream().filter(i -> i.startsWith("ENV ")).toList());
    assertTrue(env.contains("-Djava.io.tmpdir=/tmp"), "JVM temp files must go to the /tmp volume");
    assertTrue(env.contains("DJL_CACHE_DIR=/tmp/"), "tokenizer natives are unpacked into DJL's cache");
    assertTrue(ins.contains("WORKDIR /app"), "./data (H2) must resolve to the /app/data volume");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile", "Dockerfile.cuda"})
  void noSecretsAreBakedIn(String file) throws IOException {
    for (String i : instructions(file)) {
      if (i.startsWith("ENV ") || i.startsWith("ARG ") || i.startsWith("LABEL ")) {
        assertFalse(SECRETISH.matcher(i).find(), "secret-looking setting in " + file + ": " + i);
      }
    }
    String text = Files.readString(DOCKER.resolve(file + ".dockerignore"));
    assertTrue(text.contains("**/*.onnx"), "model files must stay out of the build context");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile", "Dockerfile.cuda"})
  void theCliIsWhereTheChartsInitContainerCallsIt(String file) throws IOException {
    String dockerfile = Files.readString(DOCKER.resolve(file));
    String deployment = Files.readString(RenderedChart.CHART.resolve("templates/deployment.yaml"));
    assertTrue(deployment.contains("\"/app/medgemma-cli.jar\""));
    assertTrue(dockerfile.contains("/medgemma-cli.jar /app/"), "image must ship the CLI at /app/medgemma-cli.jar");
  }

  @ParameterizedTest
  @ValueSource(strings = {"Dockerfile.cuda"})
  void theCudaImageBuildsTheGpuProfileOnACudaBase(String file) throws IOException {
    List<String> ins = instructions(file);
    assertTrue(ins.stream().anyMatch(i -> i.startsWith("RUN") && i.contains("-Pcuda")));
    assertTrue(args(ins).get("CUDA_IMAGE").startsWith("nvidia/cuda:12."), "ONNX Runtime 1.23 GPU needs CUDA 12");
    assertTrue(ins.get(lastIndex(ins, "FROM ")).contains("CUDA_IMAGE"));
  }

  private static int lastIndex(List<String> ins, String prefix) {
    int last = -1;
    for (int i = 0; i < ins.size(); i++) {
      if (ins.get(i).startsWith(prefix)) {
        last = i;
      }
    }
    return last;
  }
}
