package dev.medgemmafhir.server.surfaces;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.server.security.AiDrafts;
import dev.medgemmafhir.server.security.FhirHttp;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Date;
import java.util.UUID;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.Test;

/**
 * CDS Hooks 2.0 at {@code /cds-services} with security on: discovery, both hooks with and without
 * prefetch, the EHR's JWT (missing, bad, replayed) and an unknown service.
 */
class CdsHooksTest extends SecuredSurfacesServer {

  static final String PATIENT_VIEW = "medgemma-patient-summary";
  static final String DISCHARGE = "medgemma-discharge-summary";
  static final ObjectMapper JSON = new ObjectMapper();
  final HttpClient http = HttpClient.newHttpClient();

  @Test
  void discoveryListsBothServicesWithTheirPrefetchTemplatesWithoutAJwt() throws Exception {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(URI.create(base())).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    JsonNode services = JSON.readTree(response.body()).path("services");
    assertThat(services).hasSize(2);
    assertThat(services.findValuesAsText("hook")).containsExactly("patient-view", "encounter-discharge");
    assertThat(services.findValuesAsText("id")).containsExactly(PATIENT_VIEW, DISCHARGE);
    assertThat(services.get(0).path("prefetch").path("aiSummaries").asText())
        .contains("{{context.patientId}}").contains("%7CAIAST");
    assertThat(services.get(1).path("prefetch").path("dischargeSummaries").asText())
        .contains("{{context.encounterId}}").contains("18842-5");
  }

  @Test
  void patientViewWithPrefetchShowsTheLatestDraftAwaitingReviewAndNothingElse() throws Exception {
    AiDrafts.Ids ids = seed();
    String patient = new IdType(ids.patient()).getIdPart();
    // The EHR ran the discovery's prefetch template against this server.
    String query = prefetchQuery(0, "aiSummaries").replace("{{context.patientId}}", patient);
    HttpResponse<String> prefetched = fhir.get(query, ISSUER.token(ADMIN));
    assertThat(prefetched.statusCode()).as(prefetched.body()).isEqualTo(200);

    ObjectNode request = request("patient-view", "patientId", patient, null);
    request.putObject("prefetch").set("aiSummaries", JSON.readTree(prefetched.body()));
    JsonNode cards = cards(call(PATIENT_VIEW, jwt(PATIENT_VIEW), request), 200);

    assertThat(cards).hasSize(1);
    JsonNode card = cards.get(0);
    assertThat(card.path("summary").asText()).contains("AI draft").contains("awaiting clinician review");
    assertThat(card.path("detail").asText()).startsWith("Draft summary.").contains("not yet verified by a clinician")
        .doesNotContain("Pneumonia").doesNotContain("Heart rate").doesNotContain("Draft report");
    assertThat(card.path("source").path("topic").path("code").asText()).isEqualTo("AIAST");
    assertThat(card.path("links").get(0).path("url").asText())
        .isEqualTo("http://localhost:" + port + "/review/#/review/" + ids.document());
  }

  @Test
  void patientViewWithoutPrefetchReadsWithTheFhirAuthorizationTokenAndItsCompartment() throws Exception {
    AiDrafts.Ids mine = seed();
    AiDrafts.Ids theirs = seed();
    String patient = new IdType(mine.patient()).getIdPart();
    String token = ISSUER.token("patient/DocumentReference.rs", c -> c.claim("patient", patient));

    JsonNode cards = cards(call(PATIENT_VIEW, jwt(PATIENT_VIEW), request("patient-view", "patientId", patient, token)), 200);
    assertThat(cards).hasSize(1);
    assertThat(cards.get(0).path("links").get(0).path("url").asText()).endsWith("#/review/" + mine.document());

    // The same token cannot read another patient's summary through the hook.
    String other = new IdType(theirs.patient()).getIdPart();
    assertThat(call(PATIENT_VIEW, jwt(PATIENT_VIEW), request("patient-view", "patientId", other, token)).statusCode())
        .isEqualTo(412);
    // Without prefetch and without fhirAuthorization there is nothing to read with.
    assertThat(call(PATIENT_VIEW, jwt(PATIENT_VIEW), request("patient-view", "patientId", patient, null)).statusCode())
        .isEqualTo(412);
    // A patient without AI summaries gets no card.
    String empty = new IdType(fhir.post("Patient", ISSUER.token(ADMIN), new org.hl7.fhir.r4.model.Patient())
        .headers().firstValue("Location").orElseThrow()).getIdPart();
    assertThat(cards(call(PATIENT_VIEW, jwt(PATIENT_VIEW), request("patient-view", "patientId", empty,
        ISSUER.token("user/DocumentReference.rs"))), 200)).isEmpty();
  }

  @Test
  void encounterDischargeWithoutPrefetchStartsOneDraftAndThenOffersIt() throws Exception {
    AiDrafts.Ids ids = seed();
    String encounter = new IdType(ids.encounter()).getIdPart();
    String token = ISSUER.token("user/Encounter.r user/DocumentReference.crs user/Condition.rs user/Observation.rs"
        + " user/Patient.r user/AllergyIntolerance.rs user/MedicationRequest.rs user/MedicationAdministration.rs"
        + " user/Procedure.rs user/DiagnosticReport.rs");

    JsonNode first = cards(call(DISCHARGE, jwt(DISCHARGE), request("encounter-discharge", "encounterId", encounter, token)), 200);
    assertThat(first).hasSize(1);
    assertThat(first.get(0).path("summary").asText()).isEqualTo("AI discharge summary started");
    assertThat(first.get(0).path("links").get(0).path("url").asText()).endsWith("/review/#/?kind=DocumentReference");

    JsonNode offered = null;
    for (int i = 0; i < 300 && offered == null; i++) {
      JsonNode cards = cards(call(DISCHARGE, jwt(DISCHARGE), request("encounter-discharge", "encounterId", encounter, token)), 200);
      if (cards.get(0).path("summary").asText().startsWith("AI discharge summary drafted")) {
        offered = cards.get(0);
      } else {
        assertThat(cards.get(0).path("summary").asText()).isEqualTo("An AI discharge summary is being drafted");
        Thread.sleep(100);
      }
    }
    assertThat(offered).as("the discharge summary was drafted").isNotNull();
    assertThat(offered.path("detail").asText()).startsWith(SCRIPTED_TEXT);
    Bundle discharges = FhirHttp.parse(fhir.get("DocumentReference?encounter=" + ids.encounter()
        + "&type=http://loinc.org%7C18842-5", ISSUER.token(ADMIN)), Bundle.class);
    assertThat(discharges.getEntry()).hasSize(1);
    assertThat(offered.path("links").get(0).path("url").asText())
        .endsWith("/review/#/review/DocumentReference/" + discharges.getEntryFirstRep().getResource().getIdElement().getIdPart());
  }

  @Test
  void encounterDischargeWithPrefetchOffersTheExistingDraftWithoutAFhirToken() throws Exception {
    AiDrafts.Ids ids = seed();
    Parameters discharge = new Parameters();
    discharge.addParameter().setName("style").setValue(new CodeType("discharge"));
    discharge.addParameter().setName("model").setValue(new StringType("scripted"));
    assertThat(fhir.post(ids.encounter() + "/$summarize", ISSUER.token(ADMIN), discharge).statusCode()).isEqualTo(200);
    String encounter = new IdType(ids.encounter()).getIdPart();
    HttpResponse<String> prefetched = fhir.get(prefetchQuery(1, "dischargeSummaries")
        .replace("{{context.encounterId}}", encounter), ISSUER.token(ADMIN));
    assertThat(prefetched.statusCode()).as(prefetched.body()).isEqualTo(200);

    ObjectNode request = request("encounter-discharge", "encounterId", encounter, null);
    request.putObject("prefetch").set("dischargeSummaries", JSON.readTree(prefetched.body()));
    JsonNode cards = cards(call(DISCHARGE, jwt(DISCHARGE), request), 200);
    assertThat(cards).hasSize(1);
    assertThat(cards.get(0).path("summary").asText()).startsWith("AI discharge summary drafted");
    assertThat(cards.get(0).path("detail").asText()).startsWith(SCRIPTED_TEXT);
  }

  @Test
  void serviceCallsNeedAFreshJwtFromATrustedEhrForThatService() throws Exception {
    AiDrafts.Ids ids = seed();
    String patient = new IdType(ids.patient()).getIdPart();
    String token = ISSUER.token(ADMIN);
    ObjectNode request = request("patient-view", "patientId", patient, token);

    assertThat(call(PATIENT_VIEW, null, request).statusCode()).isEqualTo(401);
    assertThat(call(PATIENT_VIEW, "not.a.jwt", request).statusCode()).isEqualTo(401);
    // Signed by the FHIR token issuer, which is not a trusted CDS client.
    assertThat(call(PATIENT_VIEW, ISSUER.token("", c -> c.audience(url(PATIENT_VIEW)).jwtID(uuid())), request)
        .statusCode()).isEqualTo(401);
    // For another service, expired, without jti, valid far too long, signed with an unpublished key.
    assertThat(call(PATIENT_VIEW, jwt(DISCHARGE), request).statusCode()).isEqualTo(401);
    assertThat(call(PATIENT_VIEW, EHR.token("", c -> c.audience(url(PATIENT_VIEW)).jwtID(uuid())
        .expirationTime(new Date(System.currentTimeMillis() - 600_000))), request).statusCode()).isEqualTo(401);
    assertThat(call(PATIENT_VIEW, EHR.token("", c -> c.audience(url(PATIENT_VIEW))), request).statusCode())
        .isEqualTo(401);
    assertThat(call(PATIENT_VIEW, EHR.token("", c -> c.audience(url(PATIENT_VIEW)).jwtID(uuid())
        .expirationTime(new Date(System.currentTimeMillis() + 3_600_000))), request).statusCode()).isEqualTo(401);
    assertThat(call(PATIENT_VIEW, EHR.forgedToken(""), request).statusCode()).isEqualTo(401);

    // A good JWT works once; the same JWT again is a replay.
    String good = jwt(PATIENT_VIEW);
    assertThat(call(PATIENT_VIEW, good, request).statusCode()).isEqualTo(200);
    HttpResponse<String> replay = call(PATIENT_VIEW, good, request);
    assertThat(replay.statusCode()).isEqualTo(401);
    assertThat(replay.body()).contains("replay").doesNotContain(good);
  }

  @Test
  void unknownServicesAndMismatchedHooksAreRefused() throws Exception {
    ObjectNode request = request("patient-view", "patientId", "1", null);
    assertThat(call("no-such-service", jwt("no-such-service"), request).statusCode()).isEqualTo(404);
    assertThat(call(DISCHARGE, jwt(DISCHARGE), request).statusCode()).isEqualTo(400);
    HttpResponse<String> notJson = http.send(HttpRequest.newBuilder(URI.create(url(PATIENT_VIEW)))
        .header("Authorization", "Bearer " + jwt(PATIENT_VIEW)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("not json")).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(notJson.statusCode()).isEqualTo(400);
  }

  // ---- helpers ----------------------------------------------------------------------------------

  String base() {
    return "http://localhost:" + port + "/cds-services";
  }

  String url(String service) {
    return base() + "/" + service;
  }

  /** The EHR's JWT for one call of {@code service}. */
  String jwt(String service) {
    return EHR.token("", c -> c.audience(url(service)).jwtID(uuid()));
  }

  static String uuid() {
    return UUID.randomUUID().toString();
  }

  String prefetchQuery(int service, String key) throws Exception {
    HttpResponse<String> discovery = http.send(HttpRequest.newBuilder(URI.create(base())).GET().build(),
        HttpResponse.BodyHandlers.ofString());
    return JSON.readTree(discovery.body()).path("services").get(service).path("prefetch").path(key).asText();
  }

  ObjectNode request(String hook, String contextKey, String id, String fhirToken) {
    ObjectNode request = JSON.createObjectNode();
    request.put("hook", hook).put("hookInstance", uuid()).put("fhirServer", "http://localhost:" + port + "/fhir");
    request.putObject("context").put("userId", "Practitioner/1").put(contextKey, id);
    if (fhirToken != null) {
      request.putObject("fhirAuthorization").put("access_token", fhirToken).put("token_type", "Bearer")
          .put("expires_in", 300).put("scope", "user/*.rs").put("subject", "ehr");
    }
    return request;
  }

  HttpResponse<String> call(String service, String jwt, ObjectNode body) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(url(service)))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString()));
    if (jwt != null) {
      request.header("Authorization", "Bearer " + jwt);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode cards(HttpResponse<String> response, int status) throws Exception {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
    return JSON.readTree(response.body()).path("cards");
  }
}
