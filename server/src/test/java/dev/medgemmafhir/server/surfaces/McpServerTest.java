package dev.medgemmafhir.server.surfaces;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.server.security.AiDrafts;
import dev.medgemmafhir.server.security.FhirHttp;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The MCP server at {@code /mcp} with security on, driven by the MCP Java SDK's own client over
 * Streamable HTTP: every tool acts with the caller's token, so a patient-scoped agent cannot reach
 * another patient through any tool, and the tools answer JSON naming the resources they wrote.
 */
class McpServerTest extends SecuredSurfacesServer {

  static final ObjectMapper JSON = new ObjectMapper();
  final List<McpSyncClient> clients = new ArrayList<>();

  @AfterEach
  void disconnect() {
    clients.forEach(McpSyncClient::close);
  }

  @Test
  void withoutAValidTokenTheEndpointAnswers401() throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    String initialize = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
        + "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\",\"version\":\"1\"}}}";
    for (String authorization : new String[] {null, "Bearer not.a.token", "Bearer " + ISSUER.forgedToken(ADMIN)}) {
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/mcp"))
          .header("Content-Type", "application/json").header("Accept", "application/json, text/event-stream")
          .POST(HttpRequest.BodyPublishers.ofString(initialize));
      if (authorization != null) {
        request.header("Authorization", authorization);
      }
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      assertThat(response.statusCode()).as(String.valueOf(authorization)).isEqualTo(401);
      assertThat(response.headers().firstValue("WWW-Authenticate")).hasValueSatisfying(v -> assertThat(v).startsWith("Bearer"));
    }
    assertThatThrownBy(() -> client(null)).isNotNull();
  }

  @Test
  void theToolsAreListed() {
    List<String> names = client(ISSUER.token(ADMIN)).listTools().tools().stream().map(McpSchema.Tool::name).toList();
    assertThat(names).containsExactlyInAnyOrder("summarize_encounter", "draft_imaging_report", "ask_patient_record",
        "list_ai_drafts", "read_resource", "verify_draft");
  }

  @Test
  void aPatientScopedTokenCannotReachAnotherPatientThroughAnyTool() throws Exception {
    AiDrafts.Ids mine = seed();
    AiDrafts.Ids theirs = seed();
    String token = ISSUER.token("patient/*.cruds", c -> c.claim("patient", new IdType(mine.patient()).getIdPart())
        .claim("fhirUser", mine.practitioner()));
    McpSyncClient agent = client(token);

    Map<String, Map<String, Object>> calls = Map.of(
        "read_resource", Map.of("reference", theirs.document()),
        "summarize_encounter", Map.of("encounter", theirs.encounter(), "model", "scripted"),
        "draft_imaging_report", Map.of("imagingStudy", theirs.imagingStudy()),
        "ask_patient_record", Map.of("patient", theirs.patient(), "question", "Any allergies?", "model", "scripted"),
        "list_ai_drafts", Map.of("patient", theirs.patient()),
        "verify_draft", Map.of("reference", theirs.document(), "decision", "accept"));
    for (var call : calls.entrySet()) {
      McpSchema.CallToolResult result = call(agent, call.getKey(), call.getValue());
      assertThat(result.isError()).as(call.getKey() + ": " + text(result)).isTrue();
      // A read of another patient's resource answers like a missing one (404), so ids cannot be probed.
      assertThat(text(result)).as(call.getKey()).contains(call.getKey().equals("read_resource") ? "404" : "403");
    }
    // Nothing of theirs changed.
    DocumentReference document = FhirHttp.parse(fhir.get(theirs.document(), ISSUER.token(ADMIN)), DocumentReference.class);
    assertThat(document.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(document.getMeta().getVersionId()).isEqualTo("1");

    // Its own patient's drafts it does reach; an unqualified listing is narrowed to its patient.
    McpSchema.CallToolResult own = call(agent, "read_resource", Map.of("reference", mine.document()));
    assertThat(own.isError()).as(text(own)).isFalse();
    assertThat(json(own).path("id").asText()).isEqualTo(mine.document());
    JsonNode listed = json(call(agent, "list_ai_drafts", Map.of("status", "any")));
    assertThat(listed.path("drafts")).isNotEmpty().allSatisfy(d ->
        assertThat(d.path("subject").asText()).isEqualTo(mine.patient()));
    assertThat(listed.path("drafts").findValuesAsText("id")).contains(mine.document(), mine.report());
  }

  @Test
  void summarizeEncounterWritesADraftAndAnswersItsIds() throws Exception {
    AiDrafts.Ids ids = seed();
    String token = ISSUER.token("user/Encounter.r user/DocumentReference.c");
    McpSchema.CallToolResult result = call(client(token), "summarize_encounter",
        Map.of("encounter", new IdType(ids.encounter()).getIdPart(), "style", "discharge", "model", "scripted"));
    assertThat(result.isError()).as(text(result)).isFalse();
    JsonNode answer = json(result);
    String written = answer.path("id").asText();
    assertThat(written).startsWith("DocumentReference/");
    assertThat(answer.path("written").get(0).asText()).isEqualTo(written);
    assertThat(answer.path("status").asText()).isEqualTo("preliminary");
    assertThat(answer.path("aiGenerated").asBoolean()).isTrue();
    assertThat(answer.path("text").asText()).contains("Stable on day two");

    DocumentReference stored = FhirHttp.parse(fhir.get(written, ISSUER.token(ADMIN)), DocumentReference.class);
    assertThat(stored.getContext().getEncounterFirstRep().getReference()).isEqualTo(ids.encounter());
    assertThat(stored.getType().getCodingFirstRep().getCode()).isEqualTo("18842-5");
    // The operation was audited as a REST call made with the agent's token.
    Bundle audit = FhirHttp.parse(fhir.get("AuditEvent?entity=" + ids.encounter(), ISSUER.token(ADMIN)), Bundle.class);
    assertThat(audit.getEntry()).isNotEmpty();

    // The token's scopes still rule: without DocumentReference.c the tool is refused.
    McpSchema.CallToolResult refused = call(client(ISSUER.token("user/Encounter.r")), "summarize_encounter",
        Map.of("encounter", ids.encounter(), "model", "scripted"));
    assertThat(refused.isError()).isTrue();
    assertThat(json(refused).path("httpStatus").asInt()).isEqualTo(403);
  }

  @Test
  void askPatientRecordAnswersWithCitationsAndKeepsTheAnswerOnlyWhenAskedAndAllowed() throws Exception {
    AiDrafts.Ids ids = seed();
    McpSchema.CallToolResult result = call(client(ISSUER.token("user/Patient.r")), "ask_patient_record",
        Map.of("patient", new IdType(ids.patient()).getIdPart(), "question", "How is she doing?", "model", "scripted"));
    assertThat(result.isError()).as(text(result)).isFalse();
    JsonNode answer = json(result);
    assertThat(answer.path("answer").asText()).startsWith("Stable on day two");
    assertThat(answer.path("aiGenerated").asBoolean()).isTrue();
    assertThat(answer.path("written")).isEmpty();
    assertThat(answer.path("citations")).allSatisfy(c -> assertThat(c.path("reference").asText()).contains("/_history/"));

    // Keeping the answer needs DocumentReference.c as well: the token's scopes still rule.
    McpSchema.CallToolResult refused = call(client(ISSUER.token("user/Patient.r")), "ask_patient_record",
        Map.of("patient", ids.patient(), "question", "How is she doing?", "model", "scripted", "persist", true));
    assertThat(refused.isError()).isTrue();
    assertThat(json(refused).path("httpStatus").asInt()).isEqualTo(403);
    McpSchema.CallToolResult kept = call(client(ISSUER.token("user/Patient.r user/DocumentReference.c")),
        "ask_patient_record", Map.of("patient", ids.patient(), "question", "How is she doing?", "model", "scripted",
            "persist", true));
    assertThat(kept.isError()).as(text(kept)).isFalse();
    String document = json(kept).path("written").get(0).asText();
    DocumentReference stored = FhirHttp.parse(fhir.get(document, ISSUER.token(ADMIN)), DocumentReference.class);
    assertThat(stored.getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
    assertThat(stored.getSubject().getReference()).isEqualTo(ids.patient());
  }

  @Test
  void verifyDraftIsOnlyForPractitionerUsers() throws Exception {
    AiDrafts.Ids ids = seed();
    McpSchema.CallToolResult notPractitioner = call(client(ISSUER.token("user/DocumentReference.u",
        c -> c.claim("fhirUser", ids.patient()))), "verify_draft", Map.of("reference", ids.document(), "decision", "accept"));
    assertThat(notPractitioner.isError()).isTrue();
    assertThat(text(notPractitioner)).contains("Practitioner");

    McpSchema.CallToolResult accepted = call(client(ISSUER.token("user/DocumentReference.u",
        c -> c.claim("fhirUser", ids.practitioner()))), "verify_draft",
        Map.of("reference", ids.document(), "decision", "accept", "note", "Checked."));
    assertThat(accepted.isError()).as(text(accepted)).isFalse();
    assertThat(json(accepted).path("id").asText()).isEqualTo(ids.document());
    assertThat(json(accepted).path("status").asText()).isEqualTo("final");
  }

  @Test
  void badArgumentsAreToolErrorsNotPaths() {
    McpSyncClient agent = client(ISSUER.token(ADMIN));
    McpSchema.CallToolResult result = call(agent, "read_resource", Map.of("reference", "Patient?_id=1"));
    assertThat(result.isError()).isTrue();
    assertThat(json(result).path("httpStatus").asInt()).isEqualTo(400);
    assertThat(call(agent, "read_resource", Map.of("reference", "../actuator/health")).isError()).isTrue();
  }

  // ---- helpers ----------------------------------------------------------------------------------

  McpSyncClient client(String token) {
    HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport.builder("http://localhost:" + port)
        .endpoint("/mcp")
        .jsonMapper(new JacksonMcpJsonMapper(new ObjectMapper()))
        .customizeRequest(request -> {
          if (token != null) {
            request.header("Authorization", "Bearer " + token);
          }
        })
        .build();
    McpSyncClient client = McpClient.sync(transport).requestTimeout(Duration.ofSeconds(60)).build();
    clients.add(client);
    client.initialize();
    return client;
  }

  static McpSchema.CallToolResult call(McpSyncClient client, String tool, Map<String, Object> arguments) {
    return client.callTool(new McpSchema.CallToolRequest(tool, arguments));
  }

  static String text(McpSchema.CallToolResult result) {
    return ((McpSchema.TextContent) result.content().get(0)).text();
  }

  static JsonNode json(McpSchema.CallToolResult result) {
    try {
      return JSON.readTree(text(result));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
