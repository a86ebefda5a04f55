package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.replay.RecordedRequest;
import dev.medgemmafhir.server.security.FhirHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.Test;

/**
 * Every resource {@code $summarize} writes, read back over HTTP, against the rules of HL7 AI
 * Transparency on FHIR (AIDevice, AIModelCard, AIInputPrompt, AIProvenance, AIAST) and against the
 * server's own {@code $validate}; the stored prompt is exactly what the model was given.
 */
class AiTransparencyConformanceTest extends TransparencyServer {

  record Written(DocumentReference draft, Provenance provenance, Device device, DocumentReference card,
      DocumentReference prompt) {}

  Resource read(String reference) {
    HttpResponse<String> response = fhir.get(new IdType(reference).toUnqualifiedVersionless().getValue(), admin);
    return response.statusCode() == 200 ? (Resource) FhirHttp.FHIR.newJsonParser().parseResource(response.body()) : null;
  }

  Written summarize(String style) {
    HttpResponse<String> response = fhir.post(encounterA + "/$summarize", admin, params("style", style));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference draft = FhirHttp.parse(response, DocumentReference.class);
    Bundle provenances = FhirHttp.parse(fhir.get("Provenance?target=DocumentReference/"
        + draft.getIdElement().getIdPart(), admin), Bundle.class);
    assertThat(provenances.getEntry()).hasSize(1);
    Provenance provenance = (Provenance) provenances.getEntryFirstRep().getResource();
    Device device = (Device) read(draft.getAuthorFirstRep().getReference());
    DocumentReference card = null;
    DocumentReference prompt = null;
    for (Provenance.ProvenanceEntityComponent entity : provenance.getEntity()) {
      if (entity.getRole() == Provenance.ProvenanceEntityRole.DERIVATION) {
        DocumentReference doc = (DocumentReference) read(entity.getWhat().getReference());
        if ("AIModelCard".equals(doc.getType().getCodingFirstRep().getCode())) {
          card = doc;
        } else {
          prompt = doc;
        }
      }
    }
    return new Written(draft, provenance, device, card, prompt);
  }

  static String text(Attachment attachment) {
    return new String(attachment.getData(), StandardCharsets.UTF_8);
  }

  static Attachment content(DocumentReference doc, String contentType) {
    return doc.getContent().stream().map(DocumentReference.DocumentReferenceContentComponent::getAttachment)
        .filter(a -> contentType.equals(a.getContentType())).findFirst().orElseThrow();
  }

  @Test
  void everyResourceTheSummaryWritesMeetsTheIg() {
    Written w = summarize("discharge");
    Function<String, Resource> resolve = this::read;

    assertThat(AiTransparencyRules.aiProvenance(w.provenance(), resolve)).isEmpty();
    assertThat(AiTransparencyRules.aiDevice(w.device())).isEmpty();
    assertThat(w.device().getMeta().getProfile()).extracting(p -> p.getValue())
        .contains(AiTransparencyRules.IG + "/StructureDefinition/AI-Device");
    // The weights' sha256 from conversion.json, next to the digest of the ONNX files.
    assertThat(w.device().getVersion()).anySatisfy(v -> {
      assertThat(v.getValue()).isEqualTo(SOURCE_SHA256);
      assertThat(v.getType().getText()).contains("google/medgemma-4b-it").contains("model-00001-of-00001.safetensors");
    });
    assertThat(w.device().getVersion()).anySatisfy(v -> assertThat(v.getValue()).contains("sha256:"));

    // The model card: referenced from the Device, with the four sections the IG names.
    assertThat(w.card()).as("model card entity").isNotNull();
    assertThat(AiTransparencyRules.aiModelCard(w.card())).isEmpty();
    String cardRef = "DocumentReference/" + w.card().getIdElement().getIdPart();
    assertThat(w.device().getExtensionsByUrl(AiTransparencyRules.MODEL_CARD_EXT))
        .extracting(e -> new IdType(((Reference) e.getValue()).getReference()).toUnqualifiedVersionless().getValue())
        .containsExactly(cardRef);
    String card = text(content(w.card(), "text/markdown"));
    assertThat(card).contains("## Intended use", "## Licence terms", "Health AI Developer Foundations",
        "## Known limitations", "## Conversion record", SOURCE_SHA256);

    // The prompt: AIInputPrompt, AIAST, in the draft's patient compartment.
    assertThat(w.prompt()).as("input prompt entity").isNotNull();
    assertThat(AiTransparencyRules.aiInputPrompt(w.prompt())).isEmpty();
    assertThat(AiTransparencyRules.hasAiast(w.prompt())).isTrue();
    assertThat(w.prompt().getSubject().getReference()).isEqualTo(w.draft().getSubject().getReference())
        .isEqualTo(patientA);

    // The checks can fail: what the IG forbids is caught.
    Device displayed = w.device().copy();
    displayed.getType().getCodingFirstRep().setDisplay("Artificial Intelligence");
    assertThat(AiTransparencyRules.aiDevice(displayed)).isNotEmpty();
    DocumentReference loinc = w.prompt().copy();
    loinc.getType().addCoding(new Coding("http://loinc.org", "34133-9", null));
    assertThat(AiTransparencyRules.aiInputPrompt(loinc)).isNotEmpty();
    Provenance noAiRole = w.provenance().copy();
    noAiRole.getAgentFirstRep().setRole(List.of());
    assertThat(AiTransparencyRules.aiProvenance(noAiRole, resolve)).isNotEmpty();
  }

  @Test
  void theStoredPromptIsExactlyWhatTheModelWasGiven() {
    Written w = summarize("brief");
    HttpResponse<String> dryRun = fhir.post(encounterA + "/$summarize", admin, params("style", "brief", "dryRun", true));
    assertThat(dryRun.statusCode()).as(dryRun.body()).isEqualTo(200);
    Parameters preview = FhirHttp.parse(dryRun, Parameters.class);

    RecordedRequest recorded = RecordedRequest.fromJson(text(content(w.prompt(), RecordedRequest.CONTENT_TYPE)));
    assertThat(recorded.replayable()).isTrue();
    Map<String, String> stored = recorded.request().messages().stream().collect(Collectors.toMap(
        m -> m.role().name().toLowerCase(Locale.ROOT),
        m -> m.parts().stream().map(p -> ((ContentPart.Text) p).text()).collect(Collectors.joining())));
    for (ChatMessage.Role role : List.of(ChatMessage.Role.SYSTEM, ChatMessage.Role.USER)) {
      String name = role.name().toLowerCase(Locale.ROOT);
      if (preview.getParameter(name) != null) {
        assertThat(stored.get(name)).as(name).isEqualTo(preview.getParameter(name).getValue().primitiveValue());
      }
    }
    assertThat(stored.get("user")).isNotBlank();
    // The recorded parameters are the ones the server used: greedy, its default token limit.
    assertThat(recorded.request().params().isGreedy()).isTrue();
    assertThat(recorded.request().params().maxNewTokens()).isEqualTo(8);
    // The Markdown rendering says the same to a reader.
    assertThat(text(content(w.prompt(), "text/markdown"))).contains(stored.get("user"));
  }

  @Test
  void theModelCardIsWrittenOncePerModelAndEachDraftHasItsOwnPrompt() {
    Written first = summarize("discharge");
    Written second = summarize("handoff");
    assertThat(second.card().getIdElement().getIdPart()).isEqualTo(first.card().getIdElement().getIdPart());
    assertThat(second.prompt().getIdElement().getIdPart()).isNotEqualTo(first.prompt().getIdElement().getIdPart());
    Bundle cardsOfThisModel = FhirHttp.parse(fhir.get("DocumentReference?type=" + AiTransparencyRules.INPUTS_CS
        + "%7CAIModelCard&identifier=urn:medgemma-fhir:model-card%7C"
        + java.net.URLEncoder.encode(first.card().getIdentifierFirstRep().getValue(), StandardCharsets.UTF_8), admin), Bundle.class);
    assertThat(cardsOfThisModel.getEntry()).hasSize(1);
    // A retry answers with the same draft and writes no second prompt.
    Written retry = summarize("discharge");
    assertThat(retry.draft().getIdElement().getIdPart()).isEqualTo(first.draft().getIdElement().getIdPart());
    Bundle prompts = FhirHttp.parse(fhir.get("DocumentReference?identifier=urn:medgemma-fhir:prompt%7C"
        + first.prompt().getIdentifierFirstRep().getValue(), admin), Bundle.class);
    assertThat(prompts.getEntry()).hasSize(1);
  }

  @Test
  void aRadiologyDraftsRecordsMeetTheIgAndValidateToo() throws Exception {
    org.hl7.fhir.r4.model.ImagingStudy study = new org.hl7.fhir.r4.model.ImagingStudy()
        .setStatus(org.hl7.fhir.r4.model.ImagingStudy.ImagingStudyStatus.AVAILABLE)
        .setSubject(new Reference(patientB)).setDescription("CHEST PA");
    HttpResponse<String> created = fhir.post("ImagingStudy", admin, study);
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    String studyId = "ImagingStudy/" + FhirHttp.parse(created, org.hl7.fhir.r4.model.ImagingStudy.class).getIdElement().getIdPart();
    java.awt.image.BufferedImage image = new java.awt.image.BufferedImage(48, 48, java.awt.image.BufferedImage.TYPE_BYTE_GRAY);
    for (int y = 0; y < 48; y++) {
      for (int x = 0; x < 48; x++) {
        image.getRaster().setSample(x, y, 0, (x * 7 + y) % 256);
      }
    }
    java.io.ByteArrayOutputStream png = new java.io.ByteArrayOutputStream();
    javax.imageio.ImageIO.write(image, "png", png);
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("image").setValue(new Attachment().setContentType("image/png").setData(png.toByteArray()));
    HttpResponse<String> response = fhir.post(studyId + "/$draft-report", admin, parameters);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    org.hl7.fhir.r4.model.DiagnosticReport report = FhirHttp.parse(response, org.hl7.fhir.r4.model.DiagnosticReport.class);
    Provenance provenance = (Provenance) FhirHttp.parse(fhir.get("Provenance?target=DiagnosticReport/"
        + report.getIdElement().getIdPart(), admin), Bundle.class).getEntryFirstRep().getResource();
    assertThat(AiTransparencyRules.aiProvenance(provenance, this::read)).isEmpty();
    DocumentReference prompt = provenance.getEntity().stream()
        .filter(e -> "input prompt".equals(e.getWhat().getDisplay()))
        .map(e -> (DocumentReference) read(e.getWhat().getReference())).findFirst().orElseThrow();
    assertThat(prompt.getSubject().getReference()).isEqualTo(patientB);
    RecordedRequest recorded = RecordedRequest.fromJson(text(content(prompt, RecordedRequest.CONTENT_TYPE)));
    // The image is named by its digest; its bytes stay where they came from.
    assertThat(recorded.replayable()).isFalse();
    assertThat(recorded.imageDigests()).hasSize(1);
    assertThat(text(content(prompt, RecordedRequest.CONTENT_TYPE))).doesNotContain(
        java.util.Base64.getEncoder().encodeToString(png.toByteArray()).substring(0, 40));
    assertThat(validate(report)).as("radiology draft").isEmpty();
    assertThat(validate(provenance)).as("its provenance").isEmpty();
    assertThat(validate(prompt)).as("its prompt").isEmpty();
  }

  /** What {@code $validate} says about a resource: its error and fatal issues. */
  List<String> validate(Resource resource) {
    Resource body = resource.copy();
    HttpResponse<String> response = fhir.post(resource.fhirType() + "/$validate", admin, body);
    OperationOutcome outcome = (OperationOutcome) FhirHttp.FHIR.newJsonParser().parseResource(response.body());
    return outcome.getIssue().stream()
        .filter(i -> i.getSeverity() == OperationOutcome.IssueSeverity.ERROR
            || i.getSeverity() == OperationOutcome.IssueSeverity.FATAL)
        .map(i -> i.getLocation() + ": " + i.getDiagnostics()).toList();
  }

  @Test
  void theServersOwnValidateAcceptsWhatTheAiOperationsWrite() {
    Written w = summarize("discharge");
    assertThat(validate(w.draft())).as("draft").isEmpty();
    assertThat(validate(w.provenance())).as("provenance").isEmpty();
    assertThat(validate(w.device())).as("device").isEmpty();
    assertThat(validate(w.card())).as("model card").isEmpty();
    assertThat(validate(w.prompt())).as("prompt").isEmpty();
    // The profiles are loaded, not ignored: a prompt with a second type coding breaks AIInputPrompt's closed slice.
    DocumentReference broken = w.prompt().copy();
    broken.getType().addCoding(new Coding("http://loinc.org", "34133-9", null));
    assertThat(validate(broken)).as("a prompt the IG forbids").isNotEmpty()
        .anyMatch(e -> e.contains("AI-InputPrompt") || e.contains("AIInputPrompt"));
    Device untyped = w.device().copy();
    untyped.getType().getCodingFirstRep().setCode("Large-Language-Models");
    assertThat(validate(untyped)).as("a Device whose type is not the fixed one").isNotEmpty()
        .anyMatch(e -> e.contains("Device.type"));
  }
}
