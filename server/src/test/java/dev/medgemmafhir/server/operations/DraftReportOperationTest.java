package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.operations.AiTransparency;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.OperationDefinition;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code $draft-report} end to end over HTTP with attached images (no PACS): the real engine on the
 * forged image+text model for the FHIR around the text, a scripted engine where the prompt or the
 * exact text matters.
 */
class DraftReportOperationTest extends AiOperationsServer {

  StudyFixtures.Study chest;

  @BeforeAll
  void createStudy() {
    chest = StudyFixtures.create(client, study -> { });
  }

  static Parameters withImages(byte[]... images) {
    Parameters parameters = new Parameters();
    for (int i = 0; i < images.length; i++) {
      parameters.addParameter().setName("image").setValue(new Attachment().setContentType("image/png")
          .setData(images[i]).setTitle("view " + (i + 1)));
    }
    return parameters;
  }

  static int summaryInt(DiagnosticReport report, String name) {
    return ((IntegerType) report.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION).getExtensionByUrl(name)
        .getValue()).getValue();
  }

  @Test
  void writesALabelledPreliminaryDiagnosticReportWithProvenanceAndReturnsTheSameDraftOnRetry() throws Exception {
    byte[] pa = picture("png", 1, 40, 48);
    byte[] lateral = picture("png", 2, 36, 36);
    HttpResponse<String> response = post("/" + chest.study() + "/$draft-report", withImages(pa, lateral));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport report = parse(response, DiagnosticReport.class);

    assertThat(report.getIdElement().getIdPart()).isNotBlank();
    assertThat(report.getMeta().getSecurity()).anySatisfy(c -> {
      assertThat(c.getSystem()).isEqualTo(AiVocabulary.OBSERVATION_VALUE);
      assertThat(c.getCode()).isEqualTo("AIAST");
    });
    assertThat(report.getIdentifierFirstRep().getSystem()).isEqualTo(AiVocabulary.DRAFT_IDENTIFIER_SYSTEM);
    assertThat(report.getIdentifierFirstRep().getValue()).startsWith("draft-report-");
    assertThat(report.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
    assertThat(report.getCategory()).extracting(c -> c.getCodingFirstRep().getSystem() + "|" + c.getCodingFirstRep().getCode())
        .containsExactly("http://loinc.org|LP29684-5", "http://terminology.hl7.org/CodeSystem/v2-0074|RAD");
    assertThat(report.getCode().getCodingFirstRep().getCode()).isEqualTo(StudyFixtures.PROCEDURE_LOINC);
    assertThat(report.getSubject().getReference()).isEqualTo(chest.patient());
    assertThat(report.getEncounter().getReference()).isEqualTo(chest.encounter());
    assertThat(report.getEffectiveDateTimeType().getValue()).isEqualTo(StudyFixtures.STARTED);
    assertThat(report.getIssued()).isNotNull();
    assertThat(report.getImagingStudyFirstRep().getReference()).isEqualTo(chest.study());
    assertThat(report.getBasedOn()).extracting(r -> r.getReference()).containsExactly(chest.order());
    assertThat(report.getPerformer()).isEmpty();
    assertThat(report.getResultsInterpreter()).isEmpty();
    Attachment form = report.getPresentedFormFirstRep();
    assertThat(form.getContentType()).isEqualTo("text/markdown; charset=utf-8");
    assertThat(form.hasData()).isTrue();
    assertThat(summaryInt(report, "imagesIncluded")).isEqualTo(2);
    assertThat(summaryInt(report, "imagesOmitted")).isZero();
    assertThat(summaryInt(report, "generatedTokens")).isBetween(1, 12);

    // The Device is the AI author; it is in the Provenance, not the report.
    Bundle provenances = client.search().forResource(Provenance.class)
        .where(Provenance.TARGET.hasId("DiagnosticReport/" + report.getIdElement().getIdPart()))
        .returnBundle(Bundle.class).execute();
    assertThat(provenances.getEntry()).hasSize(1);
    Provenance provenance = (Provenance) provenances.getEntryFirstRep().getResource();
    assertThat(provenance.getMeta().getProfile()).extracting(p -> p.getValue())
        .contains(AiVocabulary.AI_PROVENANCE_PROFILE);
    assertThat(provenance.getAgentFirstRep().getType().getCodingFirstRep().getCode()).isEqualTo("author");
    String deviceRef = provenance.getAgentFirstRep().getWho().getReference();
    Device device = client.read().resource(Device.class).withId(new IdType(deviceRef).getIdPart()).execute();
    assertThat(device.getType().getCodingFirstRep().getCode()).isEqualTo("Artificial-Intelligence");
    // Inputs: study, patient, order and reason, each as the version that was read; then the two images.
    // (The model card and the prompt follow as derivation entities: AI Transparency on FHIR.)
    List<Provenance.ProvenanceEntityComponent> sources = provenance.getEntity().stream()
        .filter(e -> e.getRole() == Provenance.ProvenanceEntityRole.SOURCE).toList();
    List<String> inputs = sources.stream().filter(e -> e.getWhat().hasReference())
        .map(e -> e.getWhat().getReference()).toList();
    assertThat(inputs).hasSize(4).allSatisfy(r -> assertThat(r).contains("/_history/"));
    assertThat(inputs).anyMatch(r -> r.startsWith(chest.study() + "/_history/"))
        .anyMatch(r -> r.startsWith(chest.patient() + "/_history/"))
        .anyMatch(r -> r.startsWith(chest.order() + "/_history/"))
        .anyMatch(r -> r.startsWith(chest.condition() + "/_history/"));
    List<String> images = sources.stream().filter(e -> !e.getWhat().hasReference())
        .map(e -> e.getWhat().getDisplay()).toList();
    assertThat(images).hasSize(2);
    assertThat(images.get(0)).startsWith("attached image 1 (view 1)").contains("image/png", "sha256:");
    assertThat(images.get(1)).startsWith("attached image 2 (view 2)");
    assertThat(provenance.getEntity()).hasSize(sources.size() + 2);

    // The searches SMART apps use find it.
    Bundle labelled = client.search().forResource(DiagnosticReport.class)
        .withSecurity(AiVocabulary.OBSERVATION_VALUE, "AIAST").returnBundle(Bundle.class).execute();
    assertThat(labelled.getEntry()).extracting(e -> e.getResource().getIdElement().getIdPart())
        .contains(report.getIdElement().getIdPart());

    // A retry over unchanged inputs answers with the same draft and writes nothing.
    Map<String, Integer> before = written();
    HttpResponse<String> retry = post("/" + chest.study() + "/$draft-report", withImages(pa, lateral));
    assertThat(retry.statusCode()).isEqualTo(200);
    assertThat(parse(retry, DiagnosticReport.class).getIdElement().getIdPart())
        .isEqualTo(report.getIdElement().getIdPart());
    assertThat(written()).isEqualTo(before);

    // Other images are another draft.
    HttpResponse<String> other = post("/" + chest.study() + "/$draft-report", withImages(lateral));
    assertThat(other.statusCode()).isEqualTo(200);
    assertThat(parse(other, DiagnosticReport.class).getIdElement().getIdPart())
        .isNotEqualTo(report.getIdElement().getIdPart());
    assertThat(written()).containsEntry("DiagnosticReport", before.get("DiagnosticReport") + 1)
        .containsEntry("Provenance", before.get("Provenance") + 1).containsEntry("Device", before.get("Device"));
  }

  @Test
  void persistFalseReturnsTheReportAndWritesNothing() throws Exception {
    Map<String, Integer> before = written();
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("image").setValue(new Attachment().setContentType("image/jpeg")
        .setData(picture("jpeg", 5, 32, 32)));
    parameters.addParameter("persist", new BooleanType(false));
    parameters.addParameter("maxTokens", new IntegerType(3));
    HttpResponse<String> response = post("/" + chest.study() + "/$draft-report", parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport report = parse(response, DiagnosticReport.class);
    assertThat(report.hasId()).isFalse();
    assertThat(report.getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
    assertThat(summaryInt(report, "generatedTokens")).isBetween(1, 3);
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void theModelGetsTheStudyIndicationAndImagesAndItsImpressionBecomesTheConclusion() throws Exception {
    ScriptedEngine engine = ScriptedEngine.images("radiologist", 4096, 64,
        request -> "## Findings\nThe lungs are clear.\n\n## Impression\n1. No acute cardiopulmonary disease.\n");
    String model = register("scripted-radiologist", engine);
    byte[] first = picture("png", 11, 20, 20);
    byte[] second = picture("png", 12, 20, 20);
    byte[] third = picture("png", 13, 20, 20);
    Parameters parameters = withImages(first, second, third);
    parameters.addParameter("model", new StringType(model));
    HttpResponse<String> response = post("/" + chest.study() + "/$draft-report", parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DiagnosticReport report = parse(response, DiagnosticReport.class);

    assertThat(report.getConclusion()).isEqualTo("1. No acute cardiopulmonary disease.");
    assertThat(new String(report.getPresentedFormFirstRep().getData(), StandardCharsets.UTF_8))
        .isEqualTo("## Findings\nThe lungs are clear.\n\n## Impression\n1. No acute cardiopulmonary disease.");
    // The default indication: the study's reasons, then the order's code and note.
    String prompt = engine.lastPromptText();
    assertThat(prompt).contains("Study: XR Chest 2 Views; CHEST PA AND LATERAL; modality CR");
    assertThat(prompt).contains("Clinical indication: " + StudyFixtures.STUDY_REASON + "; " + StudyFixtures.CONDITION
        + "; ordered: " + StudyFixtures.ORDER_CODE + "; " + StudyFixtures.ORDER_NOTE);
    assertThat(prompt).contains("Image 1: attached image 1 (view 1)", "Image 3: attached image 3 (view 3)");
    assertThat(engine.lastImages()).containsExactly(first, second, third);
    assertThat(((CodeType) report.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION)
        .getExtensionByUrl("indicationSource").getValue()).getValue()).isEqualTo("study");

    // An indication in the request replaces the derived one.
    Parameters asked = withImages(first);
    asked.addParameter("model", new StringType(model));
    asked.addParameter("indication", new StringType("Fever after chemotherapy; rule out pneumonia"));
    DiagnosticReport answered = parse(post("/" + chest.study() + "/$draft-report", asked), DiagnosticReport.class);
    assertThat(engine.lastPromptText()).contains("Clinical indication: Fever after chemotherapy; rule out pneumonia\n")
        .doesNotContain(StudyFixtures.ORDER_NOTE);
    assertThat(((CodeType) answered.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION)
        .getExtensionByUrl("indicationSource").getValue()).getValue()).isEqualTo("request");
  }

  @Test
  void imagesAreBoundedByMaxImagesAndByTheModelsContext() throws Exception {
    ScriptedEngine roomy = ScriptedEngine.images("roomy", 100_000, 300, request -> "Impression: none.");
    String roomyModel = register("scripted-roomy", roomy);
    byte[][] five = new byte[5][];
    for (int i = 0; i < five.length; i++) {
      five[i] = picture("png", 20 + i, 16, 16);
    }
    Parameters one = withImages(five);
    one.addParameter("model", new StringType(roomyModel));
    one.addParameter("maxImages", new IntegerType(2));
    one.addParameter("persist", new BooleanType(false));
    DiagnosticReport two = parse(post("/" + chest.study() + "/$draft-report", one), DiagnosticReport.class);
    assertThat(roomy.lastImages()).containsExactly(five[0], five[1]);
    assertThat(summaryInt(two, "imagesIncluded")).isEqualTo(2);
    assertThat(summaryInt(two, "imagesOmitted")).isEqualTo(3);

    // A small context: each image costs 300 tokens, so only some of them fit beside the answer.
    ScriptedEngine tight = ScriptedEngine.images("tight", 1100, 300, request -> "Impression: none.");
    String tightModel = register("scripted-tight", tight);
    Parameters all = withImages(five);
    all.addParameter("model", new StringType(tightModel));
    all.addParameter("maxImages", new IntegerType(5));
    all.addParameter("persist", new BooleanType(false));
    DiagnosticReport fitted = parse(post("/" + chest.study() + "/$draft-report", all), DiagnosticReport.class);
    int included = summaryInt(fitted, "imagesIncluded");
    assertThat(included).isBetween(1, 3);
    assertThat(summaryInt(fitted, "imagesOmitted")).isEqualTo(5 - included);
    assertThat(tight.lastImages()).hasSize(included).first().isEqualTo(five[0]);
    int promptTokens = tight.countPromptTokens(tight.requests.get(tight.requests.size() - 1));
    assertThat(promptTokens + 12).isLessThanOrEqualTo(1100);
    assertThat(promptTokens + 12 + 300).as("one more image would not have fitted").isGreaterThan(1100);
  }

  @Test
  void badRequestsAreOperationOutcomesWithTheRightStatusAndWriteNothing() throws Exception {
    Map<String, Integer> before = written();
    String op = "/" + chest.study() + "/$draft-report";
    Parameters gif = new Parameters();
    gif.addParameter().setName("image").setValue(new Attachment().setContentType("image/gif")
        .setData("GIF89a-not-really".getBytes(StandardCharsets.US_ASCII)));
    assertOutcome(post(op, gif), 400, "image 1 is not a PNG or JPEG");
    Parameters mislabelled = new Parameters();
    mislabelled.addParameter().setName("image").setValue(new Attachment().setContentType("image/png")
        .setData(picture("jpeg", 1, 8, 8)));
    assertOutcome(post(op, mislabelled), 400, "declares contentType image/png", "image/jpeg");
    Parameters byUrl = new Parameters();
    byUrl.addParameter().setName("image").setValue(new Attachment().setUrl("http://example.org/x.png"));
    assertOutcome(post(op, byUrl), 400, "inline");
    Parameters noImages = withImages(picture("png", 1, 8, 8));
    noImages.addParameter("maxImages", new IntegerType(0));
    assertOutcome(post(op, noImages), 400, "maxImages");
    Parameters noTokens = withImages(picture("png", 1, 8, 8));
    noTokens.addParameter("maxTokens", new IntegerType(0));
    assertOutcome(post(op, noTokens), 400, "maxTokens");
    Parameters unknownModel = withImages(picture("png", 1, 8, 8));
    unknownModel.addParameter("model", new StringType("nope"));
    assertOutcome(post(op, unknownModel), 400, "nope");
    Parameters textModel = withImages(picture("png", 1, 8, 8));
    textModel.addParameter("model", new StringType(register("scripted-text", ScriptedEngine.textOnly("text", r -> "x"))));
    assertOutcome(post(op, textModel), 400, "takes no images");

    assertOutcome(post("/ImagingStudy/does-not-exist/$draft-report", withImages(picture("png", 1, 8, 8))), 404,
        "does-not-exist");
    // No Endpoint and no attached image: nothing to report on.
    assertOutcome(post(op, new Parameters()), 422, "no images to report on");
    // GET is refused: the operation writes.
    HttpResponse<String> viaGet = http.send(HttpRequest.newBuilder(URI.create(base() + op)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(viaGet.statusCode()).isIn(400, 405);
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void asyncKickOffPollsToABatchResponseWithTheReport() throws Exception {
    Parameters parameters = withImages(picture("png", 40, 24, 24));
    parameters.addParameter("maxTokens", new IntegerType(4));
    HttpResponse<String> kickoff = post("/" + chest.study() + "/$draft-report", parameters, "Prefer", "respond-async");
    Bundle result = jobResult(kickoff);
    assertThat(result.getType()).isEqualTo(Bundle.BundleType.BATCHRESPONSE);
    assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("201");
    DiagnosticReport report = (DiagnosticReport) result.getEntryFirstRep().getResource();
    assertThat(client.read().resource(DiagnosticReport.class).withId(report.getIdElement().getIdPart()).execute()
        .getStatus()).isEqualTo(DiagnosticReport.DiagnosticReportStatus.PRELIMINARY);
  }

  @Test
  void theOperationDefinitionDocumentsEveryParameterAndIsInTheCapabilityStatement() throws Exception {
    CapabilityStatement cs = parse(get("/fhir/metadata"), CapabilityStatement.class);
    var imagingStudy = cs.getRestFirstRep().getResource().stream().filter(r -> r.getType().equals("ImagingStudy"))
        .findFirst().orElseThrow();
    var listed = imagingStudy.getOperation().stream().filter(o -> o.getName().equals("draft-report")).findFirst()
        .orElseThrow();
    String definitionId = new IdType(listed.getDefinition()).getIdPart();
    HttpResponse<String> response = get("/fhir/OperationDefinition/" + definitionId);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    OperationDefinition definition = parse(response, OperationDefinition.class);
    assertThat(definition.getCode()).isEqualTo("draft-report");
    assertThat(definition.getInstance()).isTrue();
    assertThat(definition.getAffectsState()).isTrue();
    assertThat(definition.getResource()).extracting(c -> c.getValue()).containsExactly("ImagingStudy");
    var in = definition.getParameter().stream()
        .filter(p -> p.getUse() == OperationDefinition.OperationParameterUse.IN).toList();
    assertThat(in).extracting(p -> p.getName())
        .containsExactlyInAnyOrder("persist", "maxTokens", "model", "indication", "image", "maxImages", "dryRun");
    assertThat(in).allSatisfy(p -> assertThat(p.getDocumentation()).isNotBlank());
    var image = in.stream().filter(p -> p.getName().equals("image")).findFirst().orElseThrow();
    assertThat(image.getType()).isEqualTo("Attachment");
    assertThat(image.getMax()).isEqualTo("*");
    assertThat(definition.getParameter()).extracting(p -> p.getName() + ":" + p.getUse() + ":" + p.getType())
        .contains("return:OUT:DiagnosticReport");
  }

  @Test
  void theSameStudyWithoutAProcedureCodeIsCodedAsADiagnosticImagingStudy() throws Exception {
    StudyFixtures.Study bare = StudyFixtures.create(client, study -> study.getProcedureCode().clear());
    Parameters parameters = withImages(picture("png", 3, 16, 16));
    parameters.addParameter("persist", new BooleanType(false));
    parameters.addParameter("model", new StringType(register("scripted-plain",
        ScriptedEngine.images("plain", 4096, 10, r -> "No impression section here.\n\nLast paragraph wins."))));
    DiagnosticReport report = parse(post("/" + bare.study() + "/$draft-report", parameters), DiagnosticReport.class);
    assertThat(report.getCode().getCodingFirstRep().getSystem()).isEqualTo("http://loinc.org");
    assertThat(report.getCode().getCodingFirstRep().getCode()).isEqualTo("18748-4");
    assertThat(report.getConclusion()).isEqualTo("Last paragraph wins.");
    Extension summary = report.getExtensionByUrl(AiVocabulary.CONTEXT_EXTENSION);
    assertThat(summary.getExtensionByUrl("imagesIncluded")).isNotNull();
  }
}
