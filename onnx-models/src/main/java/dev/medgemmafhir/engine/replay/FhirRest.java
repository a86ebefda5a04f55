package dev.medgemmafhir.engine.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Base64;

/**
 * The few FHIR REST calls the CLI's {@code replay} and {@code eval} make, as plain JSON over HTTP
 * (the engine module carries no FHIR library): read by reference, search, and POST an operation,
 * each with an optional bearer token. Errors name the status and the OperationOutcome's text,
 * never the token.
 */
public final class FhirRest {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** A non-2xx answer: its status and diagnostics. */
    public static final class FhirException extends RuntimeException {
        private final int status;

        FhirException(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    private final String base;
    private final String token;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    private final Duration timeout;

    /** @param token bearer token, or null */
    public FhirRest(String base, String token, Duration timeout) {
        this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
        this.token = token == null || token.isBlank() ? null : token.strip();
        this.timeout = timeout;
    }

    public String base() {
        return base;
    }

    /** GET a relative reference ({@code Type/id}, {@code Type?query}) or an absolute URL on this server. */
    public JsonNode get(String reference) {
        return send(builder(reference).GET());
    }

    /** POST a FHIR JSON body to a relative path (e.g. {@code Encounter/1/$summarize}). */
    public JsonNode post(String path, JsonNode body) {
        try {
            return send(builder(path).header("Content-Type", "application/fhir+json")
                    .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The decoded {@code data} of an Attachment. */
    public static String attachmentText(JsonNode attachment) {
        return new String(Base64.getDecoder().decode(attachment.path("data").asText()), java.nio.charset.StandardCharsets.UTF_8);
    }

    private HttpRequest.Builder builder(String reference) {
        String url = reference.startsWith("http://") || reference.startsWith("https://") ? reference : base + "/" + reference;
        if (!url.startsWith(base + "/") && !url.equals(base)) {
            // A reference to another server is not followed: the token is for this one.
            throw new IllegalArgumentException("not on " + base + ": " + url);
        }
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(timeout).header("Accept", "application/fhir+json");
        if (token != null) {
            b.header("Authorization", "Bearer " + token);
        }
        return b;
    }

    private JsonNode send(HttpRequest.Builder request) {
        HttpResponse<String> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new FhirException(0, "cannot reach " + base + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new FhirException(0, "interrupted");
        }
        JsonNode body;
        try {
            body = response.body().isBlank() ? JSON.createObjectNode() : JSON.readTree(response.body());
        } catch (IOException e) {
            body = JSON.createObjectNode();
        }
        if (response.statusCode() / 100 != 2) {
            String diagnostics = body.path("issue").path(0).path("diagnostics").asText("");
            throw new FhirException(response.statusCode(), "HTTP " + response.statusCode() + " from "
                    + response.request().uri().getPath() + (diagnostics.isEmpty() ? "" : ": " + diagnostics));
        }
        return body;
    }
}
