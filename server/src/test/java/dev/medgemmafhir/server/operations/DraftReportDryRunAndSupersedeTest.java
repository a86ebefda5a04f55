package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.net.http.HttpResponse;
import java.util.Map;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.Test;

/** What {@code $summarize} has, {@code $draft-report} has too: a dry run, and a newer draft replacing the unverified one. */
class DraftReportDryRunAndSupersedeTest extends AiOperationsServer {

  @Test
  void aDryRunShowsThePromptWithImagePlaceholdersAndRunsAndWritesNothing() throws Exception {
    StudyFixtures.Study study = StudyFixtures.create(client, s -> { });
    ScriptedEngine engine = ScriptedEngine.images("report-dry", 4096, 100, request -> "never");
    String model = register("report-dry", engine);
    Map<String, Integer> before = written();
    Parameters parameters = DraftReportOperationTest.withImages(picture("png", 3, 32, 32), picture("png", 4, 32, 32));
    parameters.addParameter("model", new StringType(model));
    parameters.addParameter("dryRun", new org.hl7.fhir.r4.model.BooleanType(true));

    HttpResponse<String> response = post("/" + study.study() + "/$draft-report", parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    Parameters preview = parse(response, Parameters.class);
    assertThat(preview.getParameter("system").getValue().primitiveValue()).contains("## Impression");
    assertThat(preview.getParameter("user").getValue().primitiveValue())
        .contains(StudyFixtures.STUDY_REASON, "Image 1: attached image 1 (view 1)<image>", "Image 2:");
    assertThat(preview.getParameter("imagesIncluded").getValue().primitiveValue()).isEqualTo("2");
    // Two images at 100 tokens each, plus the text.
    assertThat(Integer.parseInt(preview.getParameter("promptTokens").getValue().primitiveValue())).isGreaterThan(200);
    assertThat(engine.requests).isEmpty();
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aNewerDraftOfTheSameStudyCancelsTheUnverifiedOneAndNamesIt() throws Exception {
    StudyFixtures.Study study = StudyFixtures.create(client, s -> { });
    StudyFixtures.Study otherStudy = StudyFixtures.create(client, s -> { });
    String model = register("report-superseding", ScriptedEngine.images("report-superseding", 4096, 10,
        request -> "## Findings\nClear.\n\n## Impression\n1. Normal."));
    String op = "/" + study.study() + "/$draft-report";
    Parameters first = DraftReportOperationTest.withImages(picture("png", 5, 32, 32));
    first.addParameter("model", new StringType(model));
    HttpResponse<String> one = post(op, first);
    assertThat(one.statusCode()).as(one.body()).isEqualTo(200);
    String older = "DiagnosticReport/" + parse(one, DiagnosticReport.class).getIdElement().getIdPart();
    Parameters elsewhere = DraftReportOperationTest.withImages(picture("png", 5, 32, 32));
    elsewhere.addParameter("model", new StringType(model));
    HttpResponse<String> unrelated = post("/" + otherStudy.study() + "/$draft-report", elsewhere);
    String otherDraft = "DiagnosticReport/" + parse(unrelated, DiagnosticReport.class).getIdElement().getIdPart();

    // Other images: another draft of the same study, which replaces the first.
    Parameters second = DraftReportOperationTest.withImages(picture("png", 6, 32, 32));
    second.addParameter("model", new StringType(model));
    HttpResponse<String> two = post(op, second);
    assertThat(two.statusCode()).as(two.body()).isEqualTo(200);
    DiagnosticReport newer = parse(two, DiagnosticReport.class);
    assertThat(newer.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
    assertThat(newer.getExtensionsByUrl(AiVocabulary.REPLACES_EXTENSION)).singleElement()
        .satisfies(e -> assertThat(((Reference) e.getValue()).getReference()).isEqualTo(older));

    DiagnosticReport old = client.read().resource(DiagnosticReport.class).withId(older).execute();
    assertThat(old.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.CANCELLED);
    assertThat(old.getMeta().getSecurity()).anyMatch(c -> AiVocabulary.AIAST.equals(c.getCode()));
    // Another study's draft is untouched.
    assertThat(client.read().resource(DiagnosticReport.class).withId(otherDraft).execute().getStatus())
        .isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
  }
}
