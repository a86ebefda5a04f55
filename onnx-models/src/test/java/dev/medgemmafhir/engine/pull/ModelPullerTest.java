package dev.medgemmafhir.engine.pull;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelPullerTest {
  private static final String REPO = "onnx-community/medgemma-tiny-ONNX";

  @TempDir Path tmp;
  private FakeHub hub;

  @BeforeEach
  void transformersJsRepository() throws IOException {
    hub = new FakeHub(REPO)
        .gitFile(".gitattributes", "*.onnx filter=lfs diff=lfs merge=lfs -text\n")
        .gitFile("README.md", "---\nlicense: health-ai-developer-foundations\n---\n")
        .gitFile("config.json", "{\"model_type\":\"gemma3\"}")
        .gitFile("generation_config.json", "{\"eos_token_id\":[1,106]}")
        .gitFile("tokenizer_config.json", "{\"chat_template\":\"...\"}")
        .lfsFile("tokenizer.json", bytes(3000, 1))
        .lfsFile("onnx/embed_tokens.onnx", bytes(500, 2))
        .lfsFile("onnx/embed_tokens_q4.onnx", bytes(600, 3))
        .lfsFile("onnx/embed_tokens_q4f16.onnx", bytes(700, 4))
        .lfsFile("onnx/decoder_model_merged_q4.onnx", bytes(800, 5))
        .lfsFile("onnx/decoder_model_merged_q4.onnx_data", bytes(200_000, 6))
        .lfsFile("onnx/decoder_model_merged_q4.onnx_data_1", bytes(50_000, 7))
        .lfsFile("onnx/decoder_model_merged_fp16.onnx", bytes(900, 8))
        .lfsFile("onnx/decoder_model_merged_fp16.onnx_data", bytes(90_000, 9))
        .lfsFile("onnx/vision_encoder_q4.onnx", bytes(4000, 10));
  }

  @AfterEach
  void stop() {
    hub.close();
  }

  @Test
  void pullsOnlyTheChosenVariantAndVerifiesEveryFile() throws Exception {
    Path target = tmp.resolve("models/medgemma");

    ModelPuller.Result result = puller(3).pull(spec(target, "q4", false));

    assertEquals(ModelPuller.Outcome.PULLED, result.outcome());
    assertEquals(FakeHub.COMMIT, result.commit());
    assertEquals(new TreeSet<>(List.of(
        "README.md", "config.json", "generation_config.json", "tokenizer_config.json", "tokenizer.json",
        "onnx/embed_tokens_q4.onnx", "onnx/decoder_model_merged_q4.onnx",
        "onnx/decoder_model_merged_q4.onnx_data", "onnx/decoder_model_merged_q4.onnx_data_1",
        "onnx/vision_encoder_q4.onnx", ModelPuller.MARKER)), filesUnder(target));
    assertArrayEquals(hub.content("onnx/decoder_model_merged_q4.onnx_data"),
        Files.readAllBytes(target.resolve("onnx/decoder_model_merged_q4.onnx_data")));
    // Nothing of the working folder or the lock's siblings is left to confuse a later reader.
    assertEquals(Set.of("medgemma", ".medgemma.pull.lock"), namesIn(target.getParent()));
  }

  @Test
  void fp32MeansTheFilesWithoutAQuantizationSuffix() throws Exception {
    Path target = tmp.resolve("fp32");
    puller(1).pull(spec(target, "fp32", false));
    Set<String> onnx = filesUnder(target).stream().filter(p -> p.startsWith("onnx/")).collect(Collectors.toSet());
    assertEquals(Set.of("onnx/embed_tokens.onnx"), onnx);
  }

  @Test
  void aStalledConnectionIsDroppedAndResumedWithARangeRequest() throws Exception {
    String big = "onnx/decoder_model_merged_q4.onnx_data";
    hub.cutOnce(big, 80_000);
    Path target = tmp.resolve("resumed");

    puller(3).pull(spec(target, "q4", false));

    assertEquals(1, hub.cuts.get());
    List<FakeHub.Request> forBig = hub.cdnRequests.stream().filter(r -> r.path().equals(big)).toList();
    assertEquals(2, forBig.size());
    assertNull(forBig.get(0).range());
    assertEquals("bytes=80000-", forBig.get(1).range());
    assertArrayEquals(hub.content(big), Files.readAllBytes(target.resolve(big)));
  }

  @Test
  void aPullStoppedHalfwayLeavesNoModelDirectoryAndTheNextRunResumes() throws Exception {
    String big = "onnx/decoder_model_merged_q4.onnx_data";
    hub.cutOnce(big, 120_000);
    Path target = tmp.resolve("models/medgemma");

    // One attempt per file: this run dies at the cut, like a pod killed mid-download.
    assertThrows(PullException.class, () -> puller(1).pull(spec(target, "q4", false)));
    assertFalse(Files.exists(target), "a half-pulled directory must never be visible under its name");
    Path part = target.resolveSibling(".medgemma.partial").resolve(big + ".part");
    assertEquals(120_000, Files.size(part));

    puller(1).pull(spec(target, "q4", false));

    assertTrue(hub.cdnRequests.stream().anyMatch(r -> r.path().equals(big) && "bytes=120000-".equals(r.range())),
        "second run should ask only for the missing bytes, saw " + hub.cdnRequests);
    assertArrayEquals(hub.content(big), Files.readAllBytes(target.resolve(big)));
    assertFalse(Files.exists(target.resolveSibling(".medgemma.partial")));
  }

  @Test
  void contentThatDoesNotMatchTheHubsSha256IsRejectedAndDeleted() throws Exception {
    String file = "onnx/decoder_model_merged_q4.onnx";
    byte[] wrong = hub.content(file).clone();
    wrong[17] ^= 0x5a; // same size, one byte off: only the checksum can tell
    hub.corrupt(file, wrong);
    Path target = tmp.resolve("bad");

    PullException e = assertThrows(PullException.class, () -> puller(3).pull(spec(target, "q4", false)));

    assertTrue(e.getMessage().contains("Checksum mismatch for " + file), e.getMessage());
    assertTrue(e.getMessage().contains(FakeHub.hex("SHA-256", hub.content(file), null)), e.getMessage());
    assertFalse(Files.exists(target));
    Path partial = target.resolveSibling(".bad.partial");
    assertFalse(Files.exists(partial.resolve(file + ".part")));
    assertFalse(Files.exists(partial.resolve(file)));
  }

  @Test
  void aSmallGitFileIsCheckedAgainstItsGitBlobId() throws Exception {
    hub.corrupt("config.json", "{\"model_type\":\"gemma2\"}".getBytes(StandardCharsets.UTF_8));
    PullException e = assertThrows(PullException.class,
        () -> puller(1).pull(spec(tmp.resolve("m"), "q4", false)));
    assertTrue(e.getMessage().contains("expected git blob"), e.getMessage());
  }

  @Test
  void gitBlobIdsAreComputedTheWayGitDoes() throws Exception {
    // `git hash-object` of an empty file and of "hello\n": fixed, well-known values.
    Path empty = Files.write(tmp.resolve("empty"), new byte[0]);
    Path hello = Files.writeString(tmp.resolve("hello"), "hello\n");
    assertNull(ModelPuller.verify(empty, new HubFile("empty", 0, null, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")));
    assertNull(ModelPuller.verify(hello, new HubFile("hello", 6, null, "ce013625030ba8dba906f756967f9e9ca394464a")));
  }

  @Test
  void aGatedRepositoryWithoutATokenFailsWithTheLicenceHint() throws Exception {
    hub.gated("hf_secret");
    HubAccessDeniedException e = assertThrows(HubAccessDeniedException.class,
        () -> new ModelPuller(new HubClient(hub.endpoint(), null), PullProgress.SILENT, 1, Duration.ZERO)
            .pull(spec(tmp.resolve("gated"), "q4", false)));
    assertEquals(401, e.status());
    assertTrue(e.getMessage().contains("HF_TOKEN"), e.getMessage());
    assertTrue(e.getMessage().contains("accept the licence"), e.getMessage());
    assertFalse(Files.exists(tmp.resolve("gated")));
  }

  @Test
  void aGatedRepositoryWithATokenPullsAndTheTokenNeverLeavesTheHubsHost() throws Exception {
    hub.gated("hf_secret");
    Path target = tmp.resolve("gated");
    new ModelPuller(new HubClient(hub.endpoint(), "hf_secret"), PullProgress.SILENT, 1, Duration.ZERO)
        .pull(spec(target, "q4", false));
    assertTrue(Files.isRegularFile(target.resolve("onnx/decoder_model_merged_q4.onnx")));
    assertTrue(hub.apiRequests.stream().allMatch(r -> "Bearer hf_secret".equals(r.authorization())));
    assertFalse(hub.cdnRequests.isEmpty());
    assertTrue(hub.cdnRequests.stream().allMatch(r -> r.authorization() == null),
        "the token must not be forwarded to the CDN the hub redirects to");
  }

  @Test
  void aCompletedDirectoryIsNotPulledAgain() throws Exception {
    Path target = tmp.resolve("done");
    puller(1).pull(spec(target, "q4", false));
    int requests = hub.apiRequests.size();

    ModelPuller.Result again = puller(1).pull(spec(target, "q4", false));

    assertEquals(ModelPuller.Outcome.ALREADY_COMPLETE, again.outcome());
    assertEquals(requests, hub.apiRequests.size(), "a restarted pod must not need the hub");
  }

  @Test
  void anotherVariantInTheSameDirectoryNeedsForce() throws Exception {
    Path target = tmp.resolve("m");
    puller(1).pull(spec(target, "q4", false));
    PullException e = assertThrows(PullException.class, () -> puller(1).pull(spec(target, "fp16", false)));
    assertTrue(e.getMessage().contains("--force"), e.getMessage());

    puller(1).pull(spec(target, "fp16", true));

    assertTrue(Files.exists(target.resolve("onnx/decoder_model_merged_fp16.onnx_data")));
    assertFalse(Files.exists(target.resolve("onnx/decoder_model_merged_q4.onnx")));
  }

  @Test
  void aDirectoryNotMadeByPullIsLeftAlone() throws Exception {
    Path target = Files.createDirectories(tmp.resolve("self-exported"));
    Files.writeString(target.resolve("config.json"), "{}");
    ModelPuller.Result result = puller(1).pull(spec(target, "q4", false));
    assertEquals(ModelPuller.Outcome.LEFT_UNTOUCHED, result.outcome());
    assertEquals(Set.of("config.json"), filesUnder(target));
    assertTrue(hub.apiRequests.isEmpty());
  }

  @Test
  void aMissingVariantNamesTheOnesThatExist() {
    PullException e = assertThrows(PullException.class, () -> puller(1).pull(spec(tmp.resolve("x"), "int8", false)));
    assertTrue(e.getMessage().contains("no 'int8' variant"), e.getMessage());
    assertTrue(e.getMessage().contains("[fp16, fp32, q4, q4f16]"), e.getMessage());
  }

  @Test
  void anUnknownRepositoryIsReportedAsNotFound() {
    PullSpec spec = new PullSpec("someone/else", "main", "q4", null, List.of(), tmp.resolve("x"), false);
    PullException e = assertThrows(PullException.class, () -> puller(1).pull(spec));
    assertTrue(e.getMessage().contains("not found"), e.getMessage());
  }

  private ModelPuller puller(int attempts) {
    // A short stall limit so a silenced transfer is dropped quickly; no assertion depends on it.
    return new ModelPuller(new HubClient(hub.endpoint(), null), PullProgress.SILENT, attempts, Duration.ZERO)
        .stallTimeout(Duration.ofMillis(300));
  }

  private static PullSpec spec(Path target, String dtype, boolean force) {
    return new PullSpec(REPO, "main", dtype, null, List.of(), target, force);
  }

  private static byte[] bytes(int n, long seed) {
    byte[] b = new byte[n];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static Set<String> filesUnder(Path dir) throws IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      return walk.filter(Files::isRegularFile)
          .map(p -> dir.relativize(p).toString().replace('\\', '/'))
          .collect(Collectors.toCollection(TreeSet::new));
    }
  }

  private static Set<String> namesIn(Path dir) throws IOException {
    try (Stream<Path> list = Files.list(dir)) {
      return list.map(p -> p.getFileName().toString()).collect(Collectors.toSet());
    }
  }
}
