package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.junit.jupiter.api.Test;

/** What the model writes is stored so that every FHIR format can serve it. */
class ModelOutputStorageTest extends AiOperationsServer {

  @Test
  void aControlCharacterFromTheModelDoesNotBreakTheXmlOfTheStoredReport() throws Exception {
    String model = register("control-chars", ScriptedEngine.images("control-chars", 4096, 16,
        request -> "## Findings\nNo acute\u0005 finding.\r\n\n## Impression\nClear\u0005 lungs\u001b."));
    String study = StudyFixtures.create(client, s -> { }).study();
    HttpResponse<String> response = post("/" + study + "/$draft-report",
        DraftReportFailureTest.withModel(model, picture("png", 5, 16, 16)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    String id = parse(response, DiagnosticReport.class).getIdElement().getIdPart();

    HttpResponse<String> xml = get("/fhir/DiagnosticReport/" + id + "?_format=xml");
    assertThat(xml.statusCode()).isEqualTo(200);
    assertThat(xml.body()).endsWith("</DiagnosticReport>");
    DiagnosticReport report = FHIR.newXmlParser().parseResource(DiagnosticReport.class, xml.body());
    assertThat(report.getConclusion()).isEqualTo("Clear lungs.");
    assertThat(new String(report.getPresentedFormFirstRep().getData(), StandardCharsets.UTF_8))
        .contains("No acute finding.\n\n## Impression").doesNotContain("\u0005").doesNotContain("\r");
  }
}
