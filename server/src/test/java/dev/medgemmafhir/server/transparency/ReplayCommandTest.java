package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.cli.MedGemmaCli;
import dev.medgemmafhir.server.security.FhirHttp;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DocumentReference;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code medgemma-cli replay} against the running server on 127.0.0.1: the stored prompt of a
 * greedy draft re-runs to the same tokens on the same weights; tampered weights, or official
 * weights other than the recorded ones, are reported as not reproducible with a non-zero exit.
 */
class ReplayCommandTest extends TransparencyServer {

  static final ObjectMapper JSON = new ObjectMapper();
  String provenance;

  record Run(int exit, String out, String err) {
    JsonNode json() {
      try {
        return JSON.readTree(out);
      } catch (IOException e) {
        throw new UncheckedIOException(out + err, e);
      }
    }
  }

  @BeforeAll
  void writeADraft() {
    HttpResponse<String> response = fhir.post(encounterA + "/$summarize", admin, params("style", "handoff"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference draft = FhirHttp.parse(response, DocumentReference.class);
    provenance = "Provenance/" + FhirHttp.parse(fhir.get("Provenance?target=DocumentReference/"
        + draft.getIdElement().getIdPart(), admin), Bundle.class).getEntryFirstRep().getResource().getIdElement().getIdPart();
  }

  Run replay(Path modelDir, String token) throws IOException {
    Path tokenFile = Files.createTempFile("token", ".txt");
    Files.writeString(tokenFile, token);
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cli = MedGemmaCli.commandLine();
    cli.setOut(new PrintWriter(out));
    cli.setErr(new PrintWriter(err));
    int exit = cli.execute("replay", "--server", base(), "--provenance", provenance, "--model-dir", modelDir.toString(),
        "--token-file", tokenFile.toString(), "--json");
    Files.delete(tokenFile);
    return new Run(exit, out.toString(), err.toString());
  }

  static Path copy(Path dir) throws IOException {
    Path target = Files.createTempDirectory("medgemma-replay-").resolve(dir.getFileName());
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.sorted(Comparator.naturalOrder()).toList()) {
        Files.copy(f, target.resolve(dir.relativize(f).toString()));
      }
    }
    return target;
  }

  @Test
  void aGreedyDraftReplaysToTheSameTokens() throws Exception {
    Run run = replay(MODEL_DIR, admin);
    assertThat(run.exit()).as(run.out() + run.err()).isZero();
    assertThat(run.json().path("verdict").asText()).isEqualTo("identical");
    assertThat(run.json().path("recordedTokens").asInt()).isPositive()
        .isEqualTo(run.json().path("replayedTokens").asInt());
    assertThat(run.json().path("firstDifference").asInt()).isEqualTo(-1);
  }

  @Test
  void tamperedWeightsAreNotReproducible() throws Exception {
    Path tampered = copy(MODEL_DIR);
    Path weights;
    try (Stream<Path> files = Files.walk(tampered)) {
      weights = files.filter(f -> f.toString().endsWith(".onnx") || f.toString().endsWith(".onnx_data"))
          .max(Comparator.comparingLong(f -> f.toFile().length())).orElseThrow();
    }
    byte[] bytes = Files.readAllBytes(weights);
    bytes[bytes.length - 5] ^= 0x01;
    Files.write(weights, bytes);
    Run run = replay(tampered, admin);
    assertThat(run.exit()).as(run.out() + run.err()).isEqualTo(3);
    assertThat(run.json().path("verdict").asText()).isEqualTo("not-reproducible");
    assertThat(run.json().path("message").asText()).startsWith("NOT REPRODUCIBLE").contains("sha256");
  }

  @Test
  void otherOfficialWeightsThanTheRecordedOnesAreNotReproducible() throws Exception {
    Path other = copy(MODEL_DIR);
    Path record = other.resolve("conversion.json");
    Files.writeString(record, Files.readString(record).replace(SOURCE_SHA256, "0".repeat(64)));
    Run run = replay(other, admin);
    assertThat(run.exit()).as(run.out() + run.err()).isEqualTo(3);
    assertThat(run.json().path("message").asText()).contains("official weights differ")
        .contains("model-00001-of-00001.safetensors");
  }

  @Test
  void anotherPatientsTokenCannotReadTheDraftsRecords() throws Exception {
    Run run = replay(MODEL_DIR, patientToken("patient/*.rs", patientB));
    assertThat(run.exit()).as(run.out() + run.err()).isEqualTo(2);
    assertThat(run.err()).containsAnyOf("HTTP 403", "HTTP 404");
    assertThat(run.err()).doesNotContain("eyJ"); // the token is never printed
  }
}
