package dev.medgemmafhir.server.cdshooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.operations.async.AsyncKickoff;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.server.fhir.LoopbackFhir;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import java.util.UUID;

/**
 * The two CDS services and their cards. They read this server's own FHIR endpoint (through
 * {@link LoopbackFhir}, with the EHR's {@code fhirAuthorization} token) unless the EHR prefetched
 * the data. A card carries no clinical text beyond the AI summary itself.
 */
public final class CdsServices {

  public static final String PATIENT_VIEW = "medgemma-patient-summary";
  public static final String ENCOUNTER_DISCHARGE = "medgemma-discharge-summary";
  static final String AIAST = AiVocabulary.AIAST_TOKEN;
  static final String DISCHARGE_LOINC = "http://loinc.org|18842-5";
  /** Newest AI summaries first; the service picks the first one still awaiting review. */
  /** The AIAST-labelled input prompts stored with each draft (AI Transparency) are records, not summaries. */
  static final String NOT_PROMPTS = "&type:not=" + q(AiVocabulary.AI_INPUTS_SYSTEM + "|" + AiVocabulary.AI_INPUT_PROMPT);
  static final String SUMMARY_QUERY = "DocumentReference?subject=Patient/{{context.patientId}}&_security="
      + q(AIAST) + NOT_PROMPTS + "&_sort=-date&_count=10";
  static final String DISCHARGE_QUERY = "DocumentReference?encounter=Encounter/{{context.encounterId}}&type="
      + q(DISCHARGE_LOINC) + "&_security=" + q(AIAST) + "&_sort=-date&_count=10";

  /** A request the service cannot answer; becomes an HTTP status and a short JSON error. */
  public static final class Failure extends RuntimeException {
    final int status;

    Failure(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final java.util.regex.Pattern FHIR_ID = java.util.regex.Pattern.compile("[A-Za-z0-9\\-.]{1,64}");

  private final LoopbackFhir fhir;
  private final boolean securityEnabled;
  private final String model;

  /** @param model the model id for discharge summaries the service starts; empty = $summarize's default */
  public CdsServices(LoopbackFhir fhir, boolean securityEnabled, String model) {
    this.fhir = fhir;
    this.securityEnabled = securityEnabled;
    this.model = model == null ? "" : model.strip();
  }

  /** The discovery document ({@code GET /cds-services}). */
  public ObjectNode discovery() {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode services = root.putArray("services");
    ObjectNode patientView = services.addObject();
    patientView.put("hook", "patient-view").put("id", PATIENT_VIEW)
        .put("title", "MedGemma AI summary")
        .put("description", "Shows the latest AI-drafted summary of the patient that awaits clinician review,"
            + " labelled as AI-generated, with a link to the review app.");
    patientView.putObject("prefetch").put("aiSummaries", SUMMARY_QUERY);
    ObjectNode discharge = services.addObject();
    discharge.put("hook", "encounter-discharge").put("id", ENCOUNTER_DISCHARGE)
        .put("title", "MedGemma AI discharge summary")
        .put("description", "Offers an AI-drafted discharge summary of the encounter; when none exists it starts"
            + " drafting one (asynchronously) and says so. Drafts await clinician review.");
    discharge.putObject("prefetch").put("dischargeSummaries", DISCHARGE_QUERY);
    return root;
  }

  /** Whether {@code service} is one of ours and answers {@code hook}. */
  public static Optional<String> hookOf(String service) {
    return switch (service) {
      case PATIENT_VIEW -> Optional.of("patient-view");
      case ENCOUNTER_DISCHARGE -> Optional.of("encounter-discharge");
      default -> Optional.empty();
    };
  }

  /**
   * Calls a service.
   *
   * @param reviewUrl where the review app lives (absolute)
   */
  public ObjectNode call(String service, JsonNode request, URI reviewUrl) {
    String hook = hookOf(service).orElseThrow(() -> new Failure(404, "No CDS service " + service));
    if (!hook.equals(request.path("hook").asText())) {
      throw new Failure(400, "Service " + service + " answers the " + hook + " hook, the request is for '"
          + request.path("hook").asText() + "'");
    }
    if (!request.hasNonNull("hookInstance") || !request.path("context").isObject()) {
      throw new Failure(400, "A CDS Hooks request needs hookInstance and context");
    }
    String authorization = authorization(request);
    ObjectNode response = JSON.createObjectNode();
    ArrayNode cards = response.putArray("cards");
    if (service.equals(PATIENT_VIEW)) {
      String patient = id(request, "patientId");
      latest(request, "aiSummaries", "DocumentReference?subject=Patient/" + patient + "&_security=" + q(AIAST)
          + NOT_PROMPTS + "&_sort=-date&_count=10", authorization, true)
          .ifPresent(draft -> cards.add(draftCard(draft, "AI draft summary of this patient, awaiting clinician review",
              reviewUrl)));
    } else {
      String encounter = "Encounter/" + id(request, "encounterId");
      Optional<JsonNode> existing = latest(request, "dischargeSummaries", "DocumentReference?encounter=" + encounter
          + "&type=" + q(DISCHARGE_LOINC) + "&_security=" + q(AIAST) + "&_sort=-date&_count=10", authorization, false);
      if (existing.isPresent()) {
        cards.add(draftCard(existing.get(), "AI discharge summary drafted, awaiting clinician review", reviewUrl));
      } else {
        cards.add(startDischargeSummary(encounter, authorization, reviewUrl));
      }
    }
    return response;
  }

  // ---- discharge ----------------------------------------------------------------------------------

  private ObjectNode startDischargeSummary(String encounter, String authorization, URI reviewUrl) {
    // The review app's worklist of summaries, where the draft appears once written.
    String link = reviewUrl + "#/?kind=DocumentReference";
    if (securityEnabled && authorization == null) {
      return card("No AI discharge summary exists yet", "This server can draft one, but the EHR sent no"
          + " fhirAuthorization token to start it with.", "warning", link, "Open the review app");
    }
    ObjectNode parameters = JSON.createObjectNode().put("resourceType", "Parameters");
    ArrayNode list = parameters.putArray("parameter");
    list.addObject().put("name", "style").put("valueCode", "discharge");
    if (!model.isEmpty()) {
      list.addObject().put("name", "model").put("valueString", model);
    }
    // Any replica may have started it, before a restart too, or be starting it at this instant: the
    // kick-off itself checks the shared job table and stores the job in one step ("unless-running").
    LoopbackFhir.Response kickoff = fhir.post(encounter + "/$summarize", authorization, parameters.toString(),
        "respond-async, " + AsyncKickoff.UNLESS_RUNNING);
    if (kickoff.ok() && "duplicate".equals(json(kickoff.body()).path("issue").path(0).path("code").asText())) {
      return card("An AI discharge summary is being drafted", "It will appear in the review app when it is ready"
          + " and stays a draft until a clinician verifies it.", "info", link, "Open the review app");
    }
    if (kickoff.status() == 202) {
      return card("AI discharge summary started", "No AI discharge summary existed for this encounter, so MedGemma"
          + " is drafting one now (asynchronously). It will appear in the review app when it is ready and stays a"
          + " draft until a clinician verifies it.", "info", link, "Open the review app");
    }
    if (kickoff.ok()) {
      return draftCard(json(kickoff.body()), "AI discharge summary drafted, awaiting clinician review", reviewUrl);
    }
    return card("No AI discharge summary could be started (HTTP " + kickoff.status() + ")",
        diagnostics(kickoff), "warning", link, "Open the review app");
  }

  // ---- reading ------------------------------------------------------------------------------------

  /**
   * The newest AI DocumentReference from the prefetch (when the EHR sent it) or from a search made
   * with the EHR's token; {@code preliminaryOnly} keeps only drafts awaiting review, else any not
   * entered in error.
   */
  private Optional<JsonNode> latest(JsonNode request, String prefetchKey, String query, String authorization,
      boolean preliminaryOnly) {
    JsonNode bundle;
    JsonNode prefetch = request.path("prefetch");
    if (prefetch.has(prefetchKey) && prefetch.get(prefetchKey).isObject()) {
      bundle = prefetch.get(prefetchKey);
    } else if (prefetch.has(prefetchKey) && prefetch.get(prefetchKey).isNull()) {
      // The EHR tried and found nothing (CDS Hooks: null = no data).
      return Optional.empty();
    } else {
      if (securityEnabled && authorization == null) {
        throw new Failure(412, "Prefetch '" + prefetchKey + "' is missing and the request has no fhirAuthorization"
            + " token to read it with");
      }
      LoopbackFhir.Response response = fhir.get(query, authorization);
      if (!response.ok()) {
        throw new Failure(412, "Could not read the data this service needs with the fhirAuthorization token (HTTP "
            + response.status() + ")");
      }
      bundle = json(response.body());
    }
    if ("DocumentReference".equals(bundle.path("resourceType").asText())) {
      return keep(bundle, preliminaryOnly) ? Optional.of(bundle) : Optional.empty();
    }
    for (JsonNode entry : bundle.path("entry")) {
      JsonNode resource = entry.path("resource");
      if ("DocumentReference".equals(resource.path("resourceType").asText()) && isAi(resource)
          && keep(resource, preliminaryOnly)) {
        return Optional.of(resource);
      }
    }
    return Optional.empty();
  }

  private static boolean keep(JsonNode document, boolean preliminaryOnly) {
    String docStatus = document.path("docStatus").asText();
    return preliminaryOnly ? "preliminary".equals(docStatus) : !"entered-in-error".equals(docStatus)
        && !"entered-in-error".equals(document.path("status").asText());
  }

  private static boolean isAi(JsonNode resource) {
    for (JsonNode label : resource.path("meta").path("security")) {
      if (AiVocabulary.AIAST.equals(label.path("code").asText())) {
        return true;
      }
    }
    return false;
  }

  private static String authorization(JsonNode request) {
    JsonNode token = request.path("fhirAuthorization").path("access_token");
    return token.isTextual() && !token.asText().isBlank() ? "Bearer " + token.asText() : null;
  }

  private static String id(JsonNode request, String field) {
    String id = request.path("context").path(field).asText("");
    if (id.contains("/")) {
      id = id.substring(id.lastIndexOf('/') + 1);
    }
    if (!FHIR_ID.matcher(id).matches()) {
      throw new Failure(400, "context." + field + " is missing or not a FHIR id");
    }
    return id;
  }

  // ---- cards --------------------------------------------------------------------------------------

  /** A card with the draft's own text and nothing else clinical. */
  private static ObjectNode draftCard(JsonNode draft, String summary, URI reviewUrl) {
    String reference = "DocumentReference/" + draft.path("id").asText();
    String text = "";
    JsonNode attachment = draft.path("content").path(0).path("attachment");
    if (attachment.hasNonNull("data")) {
      text = new String(Base64.getDecoder().decode(attachment.path("data").asText()), StandardCharsets.UTF_8);
    }
    String status = "preliminary".equals(draft.path("docStatus").asText())
        ? "AI-generated draft, not yet verified by a clinician."
        : "AI-generated, verified by a clinician.";
    return card(summary, text + "\n\n*" + status + "*", "info",
        reviewUrl + "#/review/" + reference, "Review the AI draft");
  }

  private static ObjectNode card(String summary, String detail, String indicator, String url, String label) {
    ObjectNode card = JSON.createObjectNode();
    card.put("uuid", UUID.randomUUID().toString());
    card.put("summary", summary.length() > 140 ? summary.substring(0, 139) + "…" : summary);
    card.put("detail", detail);
    card.put("indicator", indicator);
    ObjectNode source = card.putObject("source");
    source.put("label", "medgemma-fhir (AI-generated, awaiting clinician review)");
    source.putObject("topic").put("system", AiVocabulary.OBSERVATION_VALUE)
        .put("code", AiVocabulary.AIAST).put("display", AiVocabulary.AIAST_DISPLAY);
    card.putArray("links").addObject().put("label", label).put("url", url).put("type", "absolute");
    return card;
  }

  private static String diagnostics(LoopbackFhir.Response response) {
    return json(response.body()).path("issue").path(0).path("diagnostics").asText("HTTP " + response.status());
  }

  private static JsonNode json(String body) {
    try {
      return body == null || body.isBlank() ? JSON.createObjectNode() : JSON.readTree(body);
    } catch (IOException e) {
      return JSON.createObjectNode();
    }
  }

  private static String q(String value) {
    return URLEncoder.encode(value, StandardCharsets.UTF_8);
  }
}
