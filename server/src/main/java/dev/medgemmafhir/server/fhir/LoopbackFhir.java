package dev.medgemmafhir.server.fhir;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.function.IntSupplier;
import java.util.regex.Pattern;

/**
 * This server's own FHIR endpoint, called over loopback HTTP with the caller's {@code Authorization}
 * header. The MCP tools and the CDS Hooks services act through it, so every one of their reads and
 * writes is a real FHIR request: SMART scopes, patient compartments, label protection, the review
 * gate and the audit trail apply exactly as for a direct REST call.
 */
public final class LoopbackFhir {

  /** {@code Type/id} or {@code Type/id/_history/version}: nothing else may become a path. */
  private static final Pattern REFERENCE =
      Pattern.compile("[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\\-.]{1,64}(/_history/[A-Za-z0-9\\-.]{1,64})?");

  /** An answer: status, body and the headers the surfaces use. */
  public record Response(int status, String body, Optional<String> contentLocation, Optional<String> retryAfter) {
    public boolean ok() {
      return status >= 200 && status < 300;
    }
  }

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final IntSupplier port;
  private final Duration timeout;

  /**
   * @param port the port the server listens on (known once the web server started)
   * @param timeout how long one call may take; a synchronous AI operation can take minutes
   */
  public LoopbackFhir(IntSupplier port, Duration timeout) {
    this.port = port;
    this.timeout = timeout;
  }

  /** Whether {@code reference} is a plain {@code Type/id[/_history/v]} (and so safe as a path). */
  public static boolean isReference(String reference) {
    return reference != null && REFERENCE.matcher(reference).matches();
  }

  /** A read or search; never answered from HAPI's search cache, so a draft just written is found. */
  public Response get(String path, String authorization) {
    return send(request(path, authorization).header("Cache-Control", "no-cache").GET());
  }

  /** POSTs a FHIR JSON body and waits for the answer. */
  public Response post(String path, String authorization, String json) {
    return send(postRequest(path, authorization, json));
  }

  /**
   * POSTs a FHIR JSON body with a {@code Prefer} header, e.g. {@code respond-async} (FHIR's
   * asynchronous pattern).
   */
  public Response post(String path, String authorization, String json, String prefer) {
    return send(postRequest(path, authorization, json).header("Prefer", prefer));
  }

  private HttpRequest.Builder postRequest(String path, String authorization, String json) {
    return request(path, authorization)
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(json));
  }

  private HttpRequest.Builder request(String path, String authorization) {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port.getAsInt() + "/fhir/" + path))
        .timeout(timeout)
        .header("Accept", "application/fhir+json");
    if (authorization != null && !authorization.isBlank()) {
      builder.header("Authorization", authorization);
    }
    return builder;
  }

  private Response send(HttpRequest.Builder request) {
    try {
      HttpResponse<String> response = http.send(request.build(), HttpResponse.BodyHandlers.ofString());
      return new Response(response.statusCode(), response.body(), response.headers().firstValue("Content-Location"),
          response.headers().firstValue("Retry-After"));
    } catch (IOException e) {
      throw new IllegalStateException("The server's own FHIR endpoint did not answer: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while calling the server's own FHIR endpoint", e);
    }
  }
}
