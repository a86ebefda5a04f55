package dev.medgemmafhir.engine.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import java.util.stream.Stream;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class PullCommandTest {
  @TempDir Path tmp;

  private int run(Map<String, String> env, String... args) {
    PullCommand pull = new PullCommand();
    pull.environment = env;
    // Through the group, as the CLI's top-level command will call it.
    CommandLine withEnv = new CommandLine(new ModelsCommand(), new CommandLine.IFactory() {
      @Override
      public <K> K create(Class<K> cls) throws Exception {
        return cls == PullCommand.class ? cls.cast(pull) : CommandLine.defaultFactory().create(cls);
      }
    });
    return withEnv.execute(args);
  }

  @Test
  void readsEndpointAndTokenFromTheEnvironment() throws Exception {
    try (FakeHub hub = new FakeHub("google/medgemma-x").gated("hf_abc")
        .gitFile("config.json", "{}").lfsFile("onnx/model_q4.onnx", new byte[] {1, 2, 3})) {
      Path target = tmp.resolve("m");
      int code = run(Map.of("HF_ENDPOINT", hub.endpoint().toString(), "HF_TOKEN", "hf_abc"),
          "pull", "google/medgemma-x", "--to", target.toString(), "--quiet");
      assertEquals(0, code);
      assertTrue(Files.isRegularFile(target.resolve("onnx/model_q4.onnx")));
    }
  }

  @Test
  void accessDeniedHasItsOwnExitCode() throws Exception {
    try (FakeHub hub = new FakeHub("google/medgemma-x").gated("hf_abc").gitFile("config.json", "{}")) {
      int code = run(Map.of("HF_ENDPOINT", hub.endpoint().toString()),
          "pull", "google/medgemma-x", "--to", tmp.resolve("m").toString(), "--quiet");
      assertEquals(PullCommand.EXIT_ACCESS_DENIED, code);
    }
  }

  @Test
  void aMalformedRepositoryNameIsAUsageError() {
    assertEquals(2, run(Map.of(), "pull", "not a repo", "--to", tmp.resolve("m").toString(), "--quiet"));
  }

  @Test
  void pullsACheckpointConvertsItAndDropsTheSource() throws Exception {
    CheckpointForge.Forged ck = CheckpointForge.forge(tmp.resolve("published"), CheckpointForge.Shape.tiny(), false,
        CheckpointForge.Naming.RELEASED, 2, 7);
    try (FakeHub hub = new FakeHub("google/medgemma-x").gated("hf_abc")) {
      try (Stream<Path> files = Files.list(ck.dir())) {
        for (Path f : files.toList()) {
          String name = f.getFileName().toString();
          if (name.endsWith(".safetensors")) {
            hub.lfsFile(name, Files.readAllBytes(f));
          } else {
            hub.gitFile(name, Files.readString(f));
          }
        }
      }
      hub.lfsFile("onnx/model_q4.onnx", new byte[] {1, 2, 3});
      Path target = tmp.resolve("models/medgemma-x");
      Map<String, String> env = Map.of("HF_ENDPOINT", hub.endpoint().toString(), "HF_TOKEN", "hf_abc");
      assertEquals(0, run(env, "pull", "google/medgemma-x", "--convert", "fp32", "--to", target.toString(), "--quiet"));

      assertTrue(Files.isRegularFile(target.resolve("onnx/model.onnx")));
      assertFalse(Files.exists(target.resolveSibling("medgemma-x.checkpoint")), "the pulled checkpoint is deleted");
      JsonNode record = new ObjectMapper().readTree(target.resolve("conversion.json").toFile());
      assertEquals("google/medgemma-x", record.path("source").path("repository").asText());
      assertFalse(record.path("source").path("revision").asText().isEmpty());
      assertTrue(record.path("source").path("files").toString().contains("model-00001-of-00002.safetensors"));
      assertFalse(record.path("source").path("files").toString().contains("model_q4.onnx"), "ONNX files are not pulled");

      // Again, as in every pod start: nothing to do, the model stays.
      long requests = hub.apiRequests.size();
      assertEquals(0, run(env, "pull", "google/medgemma-x", "--convert", "fp32", "--to", target.toString(), "--quiet"));
      assertEquals(requests, hub.apiRequests.size());
    }
  }
}
