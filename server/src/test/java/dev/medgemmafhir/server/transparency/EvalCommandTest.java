package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.cli.MedGemmaCli;
import dev.medgemmafhir.server.security.FhirHttp;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.r4.model.Bundle;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * {@code medgemma-cli eval} against the running server with the forged model and the Synthea
 * patients: the pipeline runs end to end (summaries through {@code $summarize}, a user-supplied
 * study and reference report through {@code $draft-report}, record QA skipped
 * with its reason while the server has no {@code $ask}, MedQA-format questions on the local model),
 * every metric is split by group with counts, the report says the numbers are noise, and nothing is
 * written into the record.
 */
class EvalCommandTest extends TransparencyServer {

  static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void evaluatesThePatientsAndWritesAnOfflineReport() throws Exception {
    Path out = Files.createTempDirectory("medgemma-eval-");
    Path token = Files.createTempFile("token", ".txt");
    Files.writeString(token, admin);
    Path medqa = out.resolve("medqa.jsonl");
    Files.writeString(medqa, """
        {"question":"Which vitamin deficiency causes scurvy?","options":{"A":"Vitamin A","B":"Vitamin C","C":"Vitamin D","D":"Vitamin K"},"answer_idx":"B","answer":"Vitamin C"}
        {"question":"Which organ makes insulin?","options":{"A":"Liver","B":"Kidney","C":"Pancreas","D":"Spleen"},"answer_idx":"C","answer":"Pancreas"}
        """);
    // A study of patient A with its reference report, and the image the user supplies.
    org.hl7.fhir.r4.model.ImagingStudy study = new org.hl7.fhir.r4.model.ImagingStudy()
        .setStatus(org.hl7.fhir.r4.model.ImagingStudy.ImagingStudyStatus.AVAILABLE)
        .setSubject(new org.hl7.fhir.r4.model.Reference(patientA)).setDescription("CHEST PA");
    var created = fhir.post("ImagingStudy", admin, study);
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    String studyId = "ImagingStudy/" + FhirHttp.parse(created, org.hl7.fhir.r4.model.ImagingStudy.class).getIdElement().getIdPart();
    java.awt.image.BufferedImage image = new java.awt.image.BufferedImage(64, 64, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 64; y++) {
      for (int x = 0; x < 64; x++) {
        image.getRaster().setSample(x, y, 0, (x * 5 + y * 3) % 256);
      }
    }
    javax.imageio.ImageIO.write(image, "png", out.resolve("chest.png").toFile());
    Path radiology = out.resolve("radiology.jsonl");
    Files.writeString(radiology, "{\"study\":\"" + studyId + "\",\"reference\":\"No pneumothorax. Small left pleural effusion.\","
        + "\"images\":[\"chest.png\"]}\n");
    int documentsBefore = FhirHttpCount.documents(fhir, admin, "2000-01-01");
    int reportsBefore = FhirHttp.parse(fhir.get("DiagnosticReport?_summary=count&_lastUpdated=ge2000-01-01", admin), Bundle.class).getTotal();

    StringWriter stdout = new StringWriter();
    StringWriter stderr = new StringWriter();
    CommandLine cli = MedGemmaCli.commandLine();
    cli.setOut(new PrintWriter(stdout));
    cli.setErr(new PrintWriter(stderr));
    int exit = cli.execute("eval", "--server", base(), "--token-file", token.toString(), "--out", out.toString(),
        "--patients", "2", "--encounters-per-patient", "1", "--max-tokens", "6", "--radiology", radiology.toString(),
        "--medqa", medqa.toString(), "--model-dir", MODEL_DIR.toString(), "--medqa-max-tokens", "2");
    assertThat(exit).as(stdout + "\n" + stderr).isZero();

    JsonNode report = JSON.readTree(out.resolve("report.json").toFile());
    assertThat(report.path("counts").path("patients").asInt()).isEqualTo(2);
    assertThat(report.path("counts").path("summaries").asInt()).isEqualTo(2);
    assertThat(report.path("counts").path("multiple-choice questions").asInt()).isEqualTo(2);
    assertThat(report.path("counts").path("radiology reports").asInt()).as(report.path("skipped").toString()).isEqualTo(1);
    assertThat(find(report, "radiology ROUGE-L").path("overall").path("n").asInt()).isEqualTo(1);
    assertThat(find(report, "radiology finding agreement").path("groups").path("sex").get(0).path("n").asInt()).isEqualTo(1);
    assertThat(report.path("forgedWeights").asBoolean()).isTrue();
    assertThat(report.path("caveat").asText()).contains("noise");
    // Every metric carries its groups on each axis, and the group counts add up to the overall count.
    for (JsonNode metric : report.path("metrics")) {
      int n = metric.path("overall").path("n").asInt();
      for (String axis : new String[] {"sex", "age band", "race", "ethnicity"}) {
        int sum = 0;
        for (JsonNode group : metric.path("groups").path(axis)) {
          sum += group.path("n").asInt();
        }
        assertThat(sum).as(metric.path("metric").asText() + " by " + axis).isEqualTo(n);
      }
    }
    JsonNode uncited = find(report, "summary uncited-factual rate");
    assertThat(uncited.path("overall").path("n").asInt()).as("summaries with sentences").isBetween(0, 2);
    assertThat(find(report, "multiple-choice accuracy").path("overall").path("n").asInt()).isEqualTo(2);
    // Record QA runs through $ask when the server offers it, and is skipped with its reason when not.
    if (offersAsk()) {
      assertThat(report.path("counts").path("record questions").asInt()).as(report.path("skipped").toString()).isPositive();
      assertThat(find(report, "record QA accuracy").path("overall").path("n").asInt()).isPositive();
    } else {
      assertThat(report.path("skipped").toString()).contains("record QA skipped", "$ask");
      assertThat(report.path("counts").path("record questions").asInt()).isZero();
    }
    String html = Files.readString(out.resolve("report.html"));
    assertThat(html).contains("<svg", "summary supported rate", "noise").doesNotContain("<script");
    // Evaluation drafts are not saved.
    assertThat(FhirHttpCount.documents(fhir, admin, "2000-01-02")).isEqualTo(documentsBefore);
    assertThat(FhirHttp.parse(fhir.get("DiagnosticReport?_summary=count&_lastUpdated=ge2000-01-02", admin), Bundle.class)
        .getTotal()).isEqualTo(reportsBefore);
  }

  /** Whether the CapabilityStatement lists a Patient operation named ask. */
  boolean offersAsk() throws Exception {
    JsonNode metadata = JSON.readTree(fhir.get("metadata", admin).body());
    for (JsonNode resource : metadata.path("rest").path(0).path("resource")) {
      if ("Patient".equals(resource.path("type").asText())) {
        for (JsonNode operation : resource.path("operation")) {
          if ("ask".equals(operation.path("name").asText())) {
            return true;
          }
        }
      }
    }
    return false;
  }

  static JsonNode find(JsonNode report, String metric) {
    for (JsonNode m : report.path("metrics")) {
      if (metric.equals(m.path("metric").asText())) {
        return m;
      }
    }
    throw new AssertionError("no metric " + metric + " in " + report);
  }

  /** Counts DocumentReferences; a different {@code since} makes a different search, so HAPI's search cache cannot answer. */
  static final class FhirHttpCount {
    static int documents(dev.medgemmafhir.server.security.FhirHttp fhir, String token, String since) {
      return dev.medgemmafhir.server.security.FhirHttp.parse(fhir.get("DocumentReference?_summary=count&_lastUpdated=ge" + since,
          token), Bundle.class).getTotal();
    }
  }
}
