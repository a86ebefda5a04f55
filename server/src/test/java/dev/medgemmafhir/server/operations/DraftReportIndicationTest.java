package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.operations.AiTransparency;
import java.net.http.HttpResponse;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.junit.jupiter.api.Test;

/** The report says where its indication came from: the study's own reasons, or its order. */
class DraftReportIndicationTest extends AiOperationsServer {

  @Test
  void anIndicationTakenFromTheOrderSaysOrder() throws Exception {
    ScriptedEngine engine = ScriptedEngine.images("indication", 4096, 16, request -> "## Impression\nNormal.");
    String model = register("indication", engine);
    String study = StudyFixtures.create(client, s -> {
      s.getReasonCode().clear();
      s.getReasonReference().clear();
    }).study();
    HttpResponse<String> response = post("/" + study + "/$draft-report",
        DraftReportFailureTest.withModel(model, picture("png", 6, 16, 16)));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport report = parse(response, DiagnosticReport.class);
    assertThat(((CodeType) report.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION)
        .getExtensionByUrl("indicationSource").getValue()).getValue()).isEqualTo("order");
    assertThat(engine.lastPromptText()).contains(StudyFixtures.ORDER_CODE).doesNotContain(StudyFixtures.STUDY_REASON);
  }
}
