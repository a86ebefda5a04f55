package dev.medgemmafhir.server.transparency;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.server.security.FhirHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Provenance;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The stored prompt is clinical text: it obeys the draft's authorization (SMART patient
 * compartment), and it is the server's record, so no client may change, delete, forge or
 * {@code $verify} it.
 */
class PromptAuthorizationTest extends TransparencyServer {

  String promptId;
  String promptText;
  String modelDevice;

  @BeforeAll
  void writeADraft() {
    HttpResponse<String> response = fhir.post(encounterA + "/$summarize", admin, params("style", "brief"));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    DocumentReference draft = FhirHttp.parse(response, DocumentReference.class);
    Provenance provenance = (Provenance) FhirHttp.parse(fhir.get("Provenance?target=DocumentReference/"
        + draft.getIdElement().getIdPart(), admin), Bundle.class).getEntryFirstRep().getResource();
    for (Provenance.ProvenanceEntityComponent entity : provenance.getEntity()) {
      String reference = entity.getWhat().getReference();
      if (entity.getRole() == Provenance.ProvenanceEntityRole.DERIVATION && "input prompt".equals(entity.getWhat().getDisplay())) {
        promptId = new org.hl7.fhir.r4.model.IdType(reference).toUnqualifiedVersionless().getValue();
      }
    }
    assertThat(promptId).as("prompt entity").isNotNull();
    modelDevice = new org.hl7.fhir.r4.model.IdType(provenance.getAgentFirstRep().getWho().getReference())
        .toUnqualifiedVersionless().getValue();
    assertThat(modelDevice).startsWith("Device/");
    DocumentReference prompt = FhirHttp.parse(fhir.get(promptId, admin), DocumentReference.class);
    promptText = new String(prompt.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8);
    assertThat(promptText).isNotBlank();
  }

  @Test
  void onlyTheDraftsPatientCompartmentReadsIt() {
    String mine = patientToken("patient/DocumentReference.rs", patientA);
    assertThat(fhir.get(promptId, mine).statusCode()).isEqualTo(200);
    Bundle own = FhirHttp.parse(fhir.get("DocumentReference?patient=" + patientA + "&type="
        + AiTransparencyRules.INPUTS_CS + "%7CAIInputPrompt", mine), Bundle.class);
    assertThat(own.getEntry()).extracting(e -> "DocumentReference/" + e.getResource().getIdElement().getIdPart())
        .contains(promptId);

    String other = patientToken("patient/DocumentReference.rs", patientB);
    HttpResponse<String> read = fhir.get(promptId, other);
    assertThat(read.statusCode()).isIn(403, 404);
    assertThat(read.body()).doesNotContain(promptText.substring(0, Math.min(40, promptText.length())));
    HttpResponse<String> search = fhir.get("DocumentReference?type=" + AiTransparencyRules.INPUTS_CS + "%7CAIInputPrompt", other);
    if (search.statusCode() == 200) {
      assertThat(FhirHttp.parse(search, Bundle.class).getEntry())
          .noneMatch(e -> ("DocumentReference/" + e.getResource().getIdElement().getIdPart()).equals(promptId));
    } else {
      assertThat(search.statusCode()).isIn(403);
    }
    // Without a DocumentReference read scope there is nothing to read.
    assertThat(fhir.get(promptId, patientToken("patient/Observation.rs", patientA)).statusCode()).isEqualTo(403);
  }

  @Test
  void noClientChangesDeletesOrForgesIt() {
    String writer = patientToken("patient/DocumentReference.cruds", patientA);
    DocumentReference prompt = FhirHttp.parse(fhir.get(promptId, admin), DocumentReference.class);
    DocumentReference edited = prompt.copy();
    edited.getContentFirstRep().getAttachment().setData("You are a helpful assistant.".getBytes(StandardCharsets.UTF_8));
    assertThat(FhirHttp.outcome(fhir.put(promptId, writer, edited), 422)).contains("written only by this server");
    assertThat(FhirHttp.outcome(fhir.put(promptId, admin, edited), 422)).contains("written only by this server");
    assertThat(FhirHttp.outcome(fhir.delete(promptId, admin), 422)).contains("written only by this server");
    // A client cannot plant a prompt record in the server's name either.
    DocumentReference forged = prompt.copy();
    forged.setId((String) null);
    forged.getIdentifierFirstRep().setValue("summarize-forged");
    assertThat(FhirHttp.outcome(fhir.post("DocumentReference", admin, forged), 422)).contains("written only by this server");

    DocumentReference stored = FhirHttp.parse(fhir.get(promptId, admin), DocumentReference.class);
    assertThat(stored.getMeta().getVersionId()).isEqualTo(prompt.getMeta().getVersionId());
    assertThat(new String(stored.getContentFirstRep().getAttachment().getData(), StandardCharsets.UTF_8)).isEqualTo(promptText);
  }

  static Parameters meta(org.hl7.fhir.r4.model.Meta meta) {
    Parameters parameters = new Parameters();
    parameters.addParameter().setName("meta").setValue(meta);
    return parameters;
  }

  @Test
  void noClientChangesTheLabelsOfThePromptTheModelCardOrTheDevice() {
    org.hl7.fhir.r4.model.Device device = FhirHttp.parse(fhir.get(modelDevice, admin), org.hl7.fhir.r4.model.Device.class);
    String card = new org.hl7.fhir.r4.model.IdType(((org.hl7.fhir.r4.model.Reference) device
        .getExtensionByUrl(AiTransparencyRules.MODEL_CARD_EXT).getValue()).getReference()).toUnqualifiedVersionless().getValue();
    org.hl7.fhir.r4.model.Meta tag = new org.hl7.fhir.r4.model.Meta();
    tag.addTag("http://example.org/tags", "reviewed", null);
    org.hl7.fhir.r4.model.Meta restricted = new org.hl7.fhir.r4.model.Meta();
    restricted.addSecurity("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R", null);
    for (String record : java.util.List.of(promptId, card, modelDevice)) {
      org.hl7.fhir.r4.model.Resource before = (org.hl7.fhir.r4.model.Resource) FhirHttp.FHIR.newJsonParser()
          .parseResource(fhir.get(record, admin).body());
      assertThat(FhirHttp.outcome(fhir.post(record + "/$meta-add", admin, meta(tag)), 422)).as(record)
          .contains("written only by this server");
      assertThat(FhirHttp.outcome(fhir.post(record + "/$meta-add", admin, meta(restricted)), 422)).as(record)
          .contains("written only by this server");
      org.hl7.fhir.r4.model.Meta existing = new org.hl7.fhir.r4.model.Meta();
      before.getMeta().getSecurity().forEach(c -> existing.addSecurity(c.copy()));
      before.getMeta().getTag().forEach(c -> existing.addTag(c.copy()));
      if (!existing.getSecurity().isEmpty() || !existing.getTag().isEmpty()) {
        assertThat(fhir.post(record + "/$meta-delete", admin, meta(existing)).statusCode()).as(record).isEqualTo(422);
      }
      org.hl7.fhir.r4.model.Resource after = (org.hl7.fhir.r4.model.Resource) FhirHttp.FHIR.newJsonParser()
          .parseResource(fhir.get(record, admin).body());
      assertThat(after.getMeta().getTag()).as(record).hasSameSizeAs(before.getMeta().getTag());
      assertThat(after.getMeta().getSecurity()).as(record).hasSameSizeAs(before.getMeta().getSecurity());
      assertThat(after.getMeta().getVersionId()).as(record).isEqualTo(before.getMeta().getVersionId());
    }
    // Other records keep their labels open to clients.
    String observation = fhir.post("Observation", admin, observationOf(patientA)).headers().firstValue("Location")
        .map(l -> new org.hl7.fhir.r4.model.IdType(l).toUnqualifiedVersionless().getValue()).orElseThrow();
    assertThat(fhir.post(observation + "/$meta-add", admin, meta(tag)).statusCode()).isEqualTo(200);
  }

  @Test
  void noClientWritesAsTheModelOrChangesItsDevice() {
    org.hl7.fhir.r4.model.Device device = FhirHttp.parse(fhir.get(modelDevice, admin), org.hl7.fhir.r4.model.Device.class);
    String version = device.getMeta().getVersionId();
    org.hl7.fhir.r4.model.Device renamed = device.copy();
    renamed.getDeviceNameFirstRep().setName("some other model");
    assertThat(FhirHttp.outcome(fhir.put(modelDevice, admin, renamed), 422)).contains("written only by this server");
    assertThat(FhirHttp.outcome(fhir.delete(modelDevice, admin), 422)).contains("written only by this server");
    org.hl7.fhir.r4.model.Device twin = device.copy();
    twin.setId((String) null);
    assertThat(FhirHttp.outcome(fhir.post("Device", admin, twin), 422)).contains("written only by this server");
    assertThat(FhirHttp.parse(fhir.get(modelDevice, admin), org.hl7.fhir.r4.model.Device.class).getMeta().getVersionId())
        .isEqualTo(version);

    // A Provenance claiming the server's model wrote a resource: refused, whether by id or by identifier.
    String patientWriter = patientToken("patient/Provenance.crs patient/Observation.crs", patientA);
    String observation = fhir.post("Observation", admin, observationOf(patientA)).headers().firstValue("Location")
        .map(l -> new org.hl7.fhir.r4.model.IdType(l).toUnqualifiedVersionless().getValue()).orElseThrow();
    Provenance byId = claim(observation, new org.hl7.fhir.r4.model.Reference(modelDevice));
    assertThat(FhirHttp.outcome(fhir.post("Provenance", admin, byId), 422)).contains("Only this server records");
    // A patient app's token gets no further (refused by its compartment rules or by the guard).
    assertThat(fhir.post("Provenance", patientWriter, byId).statusCode()).isIn(403, 422);
    Provenance byIdentifier = claim(observation, new org.hl7.fhir.r4.model.Reference().setIdentifier(
        device.getIdentifierFirstRep().copy()));
    assertThat(FhirHttp.outcome(fhir.post("Provenance", admin, byIdentifier), 422)).contains("Only this server records");
    assertThat(FhirHttp.parse(fhir.get("Provenance?target=" + observation, admin), Bundle.class).getEntry()).isEmpty();

    // A client's own AI device may be named: AI Provenance of other systems is still welcome.
    org.hl7.fhir.r4.model.Device own = new org.hl7.fhir.r4.model.Device();
    own.addDeviceName().setName("the clinic's own scribe").setType(org.hl7.fhir.r4.model.Device.DeviceNameType.USERFRIENDLYNAME);
    String ownDevice = fhir.post("Device", admin, own).headers().firstValue("Location")
        .map(l -> new org.hl7.fhir.r4.model.IdType(l).toUnqualifiedVersionless().getValue()).orElseThrow();
    HttpResponse<String> accepted = fhir.post("Provenance", admin, claim(observation, new org.hl7.fhir.r4.model.Reference(ownDevice)));
    assertThat(accepted.statusCode()).as(accepted.body()).isEqualTo(201);
  }

  static org.hl7.fhir.r4.model.Observation observationOf(String patient) {
    org.hl7.fhir.r4.model.Observation observation = new org.hl7.fhir.r4.model.Observation();
    observation.setStatus(org.hl7.fhir.r4.model.Observation.ObservationStatus.FINAL);
    observation.getCode().setText("note");
    observation.setSubject(new org.hl7.fhir.r4.model.Reference(patient));
    return observation;
  }

  static Provenance claim(String target, org.hl7.fhir.r4.model.Reference who) {
    Provenance provenance = new Provenance();
    provenance.addTarget(new org.hl7.fhir.r4.model.Reference(target));
    provenance.setRecorded(new java.util.Date());
    provenance.addAgent().setWho(who).getType().addCoding()
        .setSystem("http://terminology.hl7.org/CodeSystem/provenance-participant-type").setCode("author");
    return provenance;
  }

  @Test
  void aClinicianCannotVerifyAPromptAsIfItWereADraft() {
    Bundle practitioners = FhirHttp.parse(fhir.get("Practitioner?_count=1", admin), Bundle.class);
    String practitioner = "Practitioner/" + practitioners.getEntryFirstRep().getResource().getIdElement().getIdPart();
    String clinician = ISSUER.token("user/DocumentReference.u", c -> c.claim("fhirUser", practitioner));
    Parameters accept = new Parameters();
    accept.addParameter().setName("decision").setValue(new CodeType("accept"));
    HttpResponse<String> verify = fhir.post(promptId + "/$verify", clinician, accept);
    assertThat(verify.statusCode()).as(verify.body()).isIn(422);
    DocumentReference stored = FhirHttp.parse(fhir.get(promptId, admin), DocumentReference.class);
    assertThat(stored.hasDocStatus()).isFalse();
    assertThat(FhirHttp.parse(fhir.get("Provenance?target=" + promptId, admin), Bundle.class).getEntry()).isEmpty();
  }

  @Test
  void theDraftListsOfSmartAppsAndTheWorklistDoNotOfferIt() {
    // The query the review app's worklist and the MCP draft list make: AI drafts, not their inputs.
    Bundle drafts = FhirHttp.parse(fhir.get("DocumentReference?_security=http://terminology.hl7.org/CodeSystem/v3-ObservationValue%7CAIAST"
        + "&status=current&type:not=" + AiTransparencyRules.INPUTS_CS + "%7CAIInputPrompt&_count=100", admin), Bundle.class);
    assertThat(drafts.getEntry()).isNotEmpty().noneMatch(e -> ("DocumentReference/" + e.getResource().getIdElement().getIdPart()).equals(promptId));
    Bundle everything = FhirHttp.parse(fhir.get("DocumentReference?_security=http://terminology.hl7.org/CodeSystem/v3-ObservationValue%7CAIAST"
        + "&status=current&_count=100", admin), Bundle.class);
    assertThat(everything.getEntry()).anyMatch(e -> ("DocumentReference/" + e.getResource().getIdElement().getIdPart()).equals(promptId));
  }
}
