package dev.medgemmafhir.server.mcp;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import ca.uhn.fhir.context.FhirContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.server.fhir.LoopbackFhir;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServerExchange;
import io.modelcontextprotocol.spec.McpSchema.CallToolRequest;
import io.modelcontextprotocol.spec.McpSchema.CallToolResult;
import io.modelcontextprotocol.spec.McpSchema.Tool;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.hl7.fhir.r4.model.CodeType;
import org.hl7.fhir.r4.model.IntegerType;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.StringType;
import org.hl7.fhir.r4.model.Type;

/**
 * The MCP tools. Each one is a thin translation into FHIR requests sent with the caller's own
 * {@code Authorization} header through {@link LoopbackFhir}; answers are JSON naming the resources
 * read or written. A FHIR error becomes a tool error carrying the HTTP status and the
 * OperationOutcome's diagnostics.
 */
public final class FhirTools {

  static final String AIAST = AiVocabulary.AIAST_TOKEN;
  private static final ObjectMapper JSON = new ObjectMapper();

  private final LoopbackFhir fhir;
  private final FhirContext context;
  private final McpJsonMapper mapper;
  private final boolean securityEnabled;

  public FhirTools(LoopbackFhir fhir, FhirContext context, McpJsonMapper mapper, boolean securityEnabled) {
    this.fhir = fhir;
    this.context = context;
    this.mapper = mapper;
    this.securityEnabled = securityEnabled;
  }

  public List<SyncToolSpecification> all() {
    return List.of(summarizeEncounter(), draftImagingReport(), askPatientRecord(), listAiDrafts(), readResource(),
        verifyDraft());
  }

  SyncToolSpecification summarizeEncounter() {
    return tool("summarize_encounter",
        "Drafts a summary of an encounter with MedGemma (FHIR Encounter/{id}/$summarize) and stores it as a"
            + " preliminary DocumentReference labelled AI-generated, with a Provenance. Needs Encounter.r and"
            + " DocumentReference.c. A retry over unchanged data returns the same draft.",
        """
        {"type":"object","properties":{
          "encounter":{"type":"string","description":"Encounter id or Encounter/{id}"},
          "style":{"type":"string","enum":["brief","discharge","handoff"],"description":"default brief"},
          "maxTokens":{"type":"integer","minimum":1},
          "model":{"type":"string","description":"a configured model id"}},
         "required":["encounter"]}""",
        (caller, args) -> {
          String encounter = reference("Encounter", args.get("encounter"));
          Parameters parameters = new Parameters();
          add(parameters, "style", args.get("style") == null ? null : new CodeType(string(args.get("style"))));
          add(parameters, "maxTokens", integer(args.get("maxTokens")));
          add(parameters, "model", optionalText(args.get("model")));
          return written(fhir.post(encounter + "/$summarize", caller.authorization(), encode(parameters)));
        });
  }

  SyncToolSpecification draftImagingReport() {
    return tool("draft_imaging_report",
        "Drafts a radiology report for an imaging study with MedGemma (FHIR ImagingStudy/{id}/$draft-report) from"
            + " the study's images on the PACS, stored as a preliminary DiagnosticReport labelled AI-generated, with"
            + " a Provenance. Needs ImagingStudy.r and DiagnosticReport.c.",
        """
        {"type":"object","properties":{
          "imagingStudy":{"type":"string","description":"ImagingStudy id or ImagingStudy/{id}"},
          "indication":{"type":"string","description":"the clinical question; default: from the study and its orders"},
          "maxTokens":{"type":"integer","minimum":1},
          "maxImages":{"type":"integer","minimum":1},
          "model":{"type":"string"}},
         "required":["imagingStudy"]}""",
        (caller, args) -> {
          String study = reference("ImagingStudy", args.get("imagingStudy"));
          Parameters parameters = new Parameters();
          add(parameters, "indication", optionalText(args.get("indication")));
          add(parameters, "maxTokens", integer(args.get("maxTokens")));
          add(parameters, "maxImages", integer(args.get("maxImages")));
          add(parameters, "model", optionalText(args.get("model")));
          return written(fhir.post(study + "/$draft-report", caller.authorization(), encode(parameters)));
        });
  }

  SyncToolSpecification askPatientRecord() {
    return tool("ask_patient_record",
        "Answers a question about a patient's record with MedGemma (FHIR Patient/{id}/$ask, or Encounter/{id}/$ask"
            + " for one encounter), every statement about the patient citing the record's resources (versioned"
            + " references and the facts' text). When the record does not answer, the answer says so and cites"
            + " nothing. Writes nothing unless persist is true (then a preliminary AI-labelled DocumentReference with"
            + " a Provenance). Needs Patient.r (Encounter.r), and DocumentReference.c to persist.",
        """
        {"type":"object","properties":{
          "patient":{"type":"string","description":"Patient id or Patient/{id}; or give encounter"},
          "encounter":{"type":"string","description":"Encounter id or Encounter/{id}, to ask about one encounter"},
          "question":{"type":"string"},
          "history":{"type":"array","items":{"type":"string"},
            "description":"earlier turns in pairs: question, answer, ..."},
          "maxTokens":{"type":"integer","minimum":1},
          "model":{"type":"string"},
          "persist":{"type":"boolean","description":"default false"}},
         "required":["question"]}""",
        (caller, args) -> {
          boolean byEncounter = args.get("encounter") != null;
          if (byEncounter == (args.get("patient") != null)) {
            throw new IllegalArgumentException("give exactly one of patient and encounter");
          }
          String target = byEncounter ? reference("Encounter", args.get("encounter"))
              : reference("Patient", args.get("patient"));
          Parameters parameters = new Parameters();
          add(parameters, "question", new StringType(string(args.get("question"))));
          if (args.get("history") instanceof List<?> turns) {
            turns.forEach(turn -> add(parameters, "history", new StringType(string(turn))));
          }
          add(parameters, "maxTokens", integer(args.get("maxTokens")));
          add(parameters, "model", optionalText(args.get("model")));
          add(parameters, "persist", args.get("persist") == null ? null
              : new org.hl7.fhir.r4.model.BooleanType(Boolean.parseBoolean(string(args.get("persist")))));
          return answered(fhir.post(target + "/$ask", caller.authorization(), encode(parameters)));
        });
  }

  /** The answer of {@code $ask}: its text, citations (reference and fact), what it kept, and the Parameters. */
  private Outcome answered(LoopbackFhir.Response response) {
    if (!response.ok()) {
      return new Outcome(error(response), true);
    }
    JsonNode answer = json(response.body());
    ObjectNode result = JSON.createObjectNode();
    result.put("httpStatus", response.status());
    var citations = JSON.createArrayNode();
    var written = JSON.createArrayNode();
    for (JsonNode parameter : answer.path("parameter")) {
      String name = parameter.path("name").asText();
      if (name.equals("answer")) {
        result.put("answer", parameter.path("valueMarkdown").asText());
      } else if (name.equals("citation")) {
        ObjectNode citation = JSON.createObjectNode();
        for (JsonNode part : parameter.path("part")) {
          JsonNode value = part.has("valueReference") ? part.path("valueReference").path("reference")
              : part.path("valueString");
          citation.put(part.path("name").asText(), value.asText());
        }
        citations.add(citation);
      } else if (name.equals("document")) {
        written.add(parameter.path("valueReference").path("reference").asText().replaceFirst("/_history/.*", ""));
      }
    }
    result.set("citations", citations);
    result.set("written", written);
    result.put("aiGenerated", true);
    result.set("resource", answer);
    return new Outcome(result, false);
  }

  SyncToolSpecification listAiDrafts() {
    return tool("list_ai_drafts",
        "Lists AI-written drafts (DocumentReference summaries and DiagnosticReport radiology reports labelled"
            + " AIAST), newest first, optionally for one patient and one review status. Needs DocumentReference.s"
            + " and/or DiagnosticReport.s; a patient-scoped token sees only its patient.",
        """
        {"type":"object","properties":{
          "patient":{"type":"string","description":"Patient id or Patient/{id}"},
          "status":{"type":"string","enum":["preliminary","final","entered-in-error","any"],
                    "description":"review status; default preliminary (awaiting review)"},
          "count":{"type":"integer","minimum":1,"maximum":50,"description":"per resource type, default 10"}}}""",
        (caller, args) -> {
          String patient = args.get("patient") == null ? null : reference("Patient", args.get("patient"));
          String status = args.get("status") == null ? "preliminary" : string(args.get("status"));
          Integer count = integer(args.get("count")) == null ? 10 : Math.min(50, Math.max(1, integer(args.get("count")).getValue()));
          ArrayNode drafts = JSON.createArrayNode();
          List<JsonNode> errors = new ArrayList<>();
          for (String type : List.of("DocumentReference", "DiagnosticReport")) {
            StringBuilder query = new StringBuilder(type).append("?_security=").append(encodeQuery(AIAST))
                .append("&_count=").append(count)
                .append("&_sort=").append(type.equals("DocumentReference") ? "-date" : "-issued");
            if (patient != null) {
              query.append("&subject=").append(encodeQuery(patient));
            }
            if (type.equals("DocumentReference")) {
              // The input prompts stored with each draft (AI Transparency) are AIAST-labelled records, not drafts.
              query.append("&type:not=").append(encodeQuery(
                  AiVocabulary.AI_INPUTS_SYSTEM + "|" + AiVocabulary.AI_INPUT_PROMPT));
            }
            // R4 has no docStatus search parameter: DocumentReferences are filtered below.
            if (!"any".equals(status) && type.equals("DiagnosticReport")) {
              query.append("&status=").append(encodeQuery(status));
            }
            LoopbackFhir.Response response = fhir.get(query.toString(), caller.authorization());
            if (!response.ok()) {
              errors.add(error(response).put("resourceType", type));
              continue;
            }
            for (JsonNode entry : json(response.body()).path("entry")) {
              ObjectNode draft = draftSummary(entry.path("resource"));
              if ("any".equals(status) || status.equals(draft.path("status").asText())) {
                drafts.add(draft);
              }
            }
          }
          ObjectNode result = JSON.createObjectNode();
          result.set("drafts", drafts);
          if (!errors.isEmpty()) {
            result.set("errors", JSON.valueToTree(errors));
          }
          return new Outcome(result, errors.size() == 2);
        });
  }

  SyncToolSpecification readResource() {
    return tool("read_resource",
        "Reads one FHIR resource by reference (Type/id or Type/id/_history/version), with the caller's scopes.",
        """
        {"type":"object","properties":{
          "reference":{"type":"string","description":"e.g. DocumentReference/12 or Patient/5/_history/2"}},
         "required":["reference"]}""",
        (caller, args) -> {
          String reference = string(args.get("reference"));
          if (!LoopbackFhir.isReference(reference)) {
            throw new IllegalArgumentException("reference must look like Type/id or Type/id/_history/version");
          }
          LoopbackFhir.Response response = fhir.get(reference, caller.authorization());
          if (!response.ok()) {
            return new Outcome(error(response), true);
          }
          JsonNode resource = json(response.body());
          ObjectNode result = JSON.createObjectNode();
          result.put("id", resource.path("resourceType").asText() + "/" + resource.path("id").asText());
          result.set("resource", resource);
          return new Outcome(result, false);
        });
  }

  SyncToolSpecification verifyDraft() {
    return tool("verify_draft",
        "Clinician review of an AI draft (FHIR $verify): accept makes it final (optionally with edited text),"
            + " reject marks it entered-in-error. Only for Practitioner users (the token's fhirUser); needs"
            + " DocumentReference.u or DiagnosticReport.u.",
        """
        {"type":"object","properties":{
          "reference":{"type":"string","description":"DocumentReference/{id} or DiagnosticReport/{id}"},
          "decision":{"type":"string","enum":["accept","reject"]},
          "text":{"type":"string","description":"accept only: the clinician's edited text"},
          "conclusion":{"type":"string","description":"DiagnosticReport, accept only: the edited impression"},
          "note":{"type":"string","description":"the reviewer's note"},
          "practitioner":{"type":"string","description":"Practitioner/{id}; only when the server runs without security"}},
         "required":["reference","decision"]}""",
        (caller, args) -> {
          String reference = string(args.get("reference"));
          if (!LoopbackFhir.isReference(reference)
              || !(reference.startsWith("DocumentReference/") || reference.startsWith("DiagnosticReport/"))
              || reference.contains("/_history/")) {
            throw new IllegalArgumentException("reference must be DocumentReference/{id} or DiagnosticReport/{id}");
          }
          if (securityEnabled && !caller.isPractitioner()) {
            ObjectNode refused = JSON.createObjectNode();
            refused.put("httpStatus", 403);
            refused.put("diagnostics", "Only a Practitioner user can verify a draft: the access token's fhirUser must"
                + " be a Practitioner");
            return new Outcome(refused, true);
          }
          Parameters parameters = new Parameters();
          add(parameters, "decision", new CodeType(string(args.get("decision"))));
          for (String name : List.of("text", "conclusion", "note")) {
            add(parameters, name, optionalText(args.get(name)));
          }
          if (!securityEnabled && args.get("practitioner") != null) {
            parameters.addParameter().setName("practitioner")
                .setValue(new org.hl7.fhir.r4.model.Reference(reference("Practitioner", args.get("practitioner"))));
          }
          return written(fhir.post(reference + "/$verify", caller.authorization(), encode(parameters)));
        });
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  /** A tool's JSON answer and whether it is an error. */
  record Outcome(JsonNode json, boolean error) {}

  private SyncToolSpecification tool(String name, String description, String schema,
      BiFunction<McpCaller, Map<String, Object>, Outcome> handler) {
    Tool tool = Tool.builder().name(name).description(description).inputSchema(mapper, schema).build();
    return SyncToolSpecification.builder().tool(tool)
        .callHandler((McpSyncServerExchange exchange, CallToolRequest request) -> {
          Outcome outcome;
          try {
            Map<String, Object> args = request.arguments() == null ? Map.of() : request.arguments();
            outcome = handler.apply(McpCaller.of(exchange.transportContext()), args);
          } catch (IllegalArgumentException e) {
            ObjectNode bad = JSON.createObjectNode();
            bad.put("httpStatus", 400);
            bad.put("diagnostics", e.getMessage());
            outcome = new Outcome(bad, true);
          }
          return CallToolResult.builder().addTextContent(outcome.json().toString()).isError(outcome.error()).build();
        })
        .build();
  }

  /** The answer of an operation that wrote (or returned) one resource. */
  private Outcome written(LoopbackFhir.Response response) {
    if (!response.ok()) {
      return new Outcome(error(response), true);
    }
    JsonNode resource = json(response.body());
    ObjectNode result = JSON.createObjectNode();
    result.put("httpStatus", response.status());
    String id = resource.path("resourceType").asText() + "/" + resource.path("id").asText();
    result.put("id", id);
    result.put("versionId", resource.path("meta").path("versionId").asText());
    result.set("written", JSON.createArrayNode().add(id));
    ObjectNode summary = draftSummary(resource);
    summary.fields().forEachRemaining(field -> result.putIfAbsent(field.getKey(), field.getValue()));
    result.set("resource", resource);
    return new Outcome(result, false);
  }

  /** Id, status, subject, date, label and the decoded text of a DocumentReference or DiagnosticReport. */
  private static ObjectNode draftSummary(JsonNode resource) {
    ObjectNode draft = JSON.createObjectNode();
    String type = resource.path("resourceType").asText();
    draft.put("id", type + "/" + resource.path("id").asText());
    draft.put("status", type.equals("DocumentReference")
        ? resource.path("docStatus").asText() : resource.path("status").asText());
    draft.put("subject", resource.path("subject").path("reference").asText());
    draft.put("date", type.equals("DocumentReference") ? resource.path("date").asText() : resource.path("issued").asText());
    boolean ai = false;
    for (JsonNode label : resource.path("meta").path("security")) {
      ai |= AiVocabulary.AIAST.equals(label.path("code").asText());
    }
    draft.put("aiGenerated", ai);
    JsonNode attachment = type.equals("DocumentReference")
        ? resource.path("content").path(0).path("attachment") : resource.path("presentedForm").path(0);
    if (attachment.hasNonNull("data")) {
      draft.put("text", new String(Base64.getDecoder().decode(attachment.path("data").asText()), StandardCharsets.UTF_8));
    }
    return draft;
  }

  private static ObjectNode error(LoopbackFhir.Response response) {
    ObjectNode error = JSON.createObjectNode();
    error.put("httpStatus", response.status());
    JsonNode body = json(response.body());
    String diagnostics = body.path("issue").path(0).path("diagnostics").asText(null);
    error.put("diagnostics", diagnostics == null ? "HTTP " + response.status() : diagnostics);
    response.retryAfter().ifPresent(seconds -> error.put("retryAfterSeconds", seconds));
    return error;
  }

  private static JsonNode json(String body) {
    try {
      return body == null || body.isBlank() ? JSON.createObjectNode() : JSON.readTree(body);
    } catch (java.io.IOException e) {
      return JSON.createObjectNode();
    }
  }

  private String encode(Parameters parameters) {
    return context.newJsonParser().encodeResourceToString(parameters);
  }

  private static void add(Parameters parameters, String name, Type value) {
    if (value != null) {
      parameters.addParameter().setName(name).setValue(value);
    }
  }

  /** {@code 12} or {@code Type/12} as {@code Type/12}; anything else is refused. */
  static String reference(String type, Object value) {
    String text = string(value);
    String reference = text.startsWith(type + "/") ? text : type + "/" + text;
    if (!LoopbackFhir.isReference(reference) || reference.contains("/_history/")) {
      throw new IllegalArgumentException(type + " must be an id or " + type + "/{id}, was '" + text + "'");
    }
    return reference;
  }

  private static String string(Object value) {
    if (value == null) {
      throw new IllegalArgumentException("a required argument is missing");
    }
    return value.toString().strip();
  }

  /** An optional string argument: null when absent. */
  private static StringType optionalText(Object value) {
    return value == null ? null : new StringType(string(value));
  }

  private static IntegerType integer(Object value) {
    if (value == null) {
      return null;
    }
    if (value instanceof Number number) {
      return new IntegerType(number.intValue());
    }
    try {
      return new IntegerType(Integer.parseInt(value.toString().strip()));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("expected an integer, was '" + value + "'");
    }
  }

  private static String encodeQuery(String value) {
    return URLEncoder.encode(value, StandardCharsets.UTF_8);
  }
}
