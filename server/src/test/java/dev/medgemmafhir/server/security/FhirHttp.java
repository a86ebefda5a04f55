package dev.medgemmafhir.server.security;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.OperationOutcome;

/** Raw FHIR over HTTP, so tests see exactly the status, headers and body a client sees. */
public final class FhirHttp {

  public static final FhirContext FHIR = FhirContext.forR4Cached();

  private final HttpClient http = HttpClient.newHttpClient();
  private final String base;

  public FhirHttp(int port) {
    this.base = "http://localhost:" + port + "/fhir";
  }

  public HttpResponse<String> get(String path, String token) {
    return send(request(path, token).GET());
  }

  public HttpResponse<String> post(String path, String token, IBaseResource body) {
    return send(request(path, token).POST(json(body)));
  }

  public HttpResponse<String> put(String path, String token, IBaseResource body) {
    return send(request(path, token).PUT(json(body)));
  }

  /** A JSON Patch ({@code application/json-patch+json}). */
  HttpResponse<String> patch(String path, String token, String jsonPatch) {
    HttpRequest request = request(path, token)
        .method("PATCH", HttpRequest.BodyPublishers.ofString(jsonPatch))
        .header("Content-Type", "application/json-patch+json").build();
    try {
      return http.send(request, HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public HttpResponse<String> delete(String path, String token) {
    return send(request(path, token).DELETE());
  }

  /**
   * Any request: {@code body} is a resource (sent as FHIR JSON), a String (sent as JSON Patch when
   * the method is PATCH) or {@code null}; {@code headers} are name, value pairs.
   */
  HttpResponse<String> send(String method, String path, String token, Object body, String... headers) {
    HttpRequest.Builder builder = request(path, token);
    for (int i = 0; i + 1 < headers.length; i += 2) {
      builder.header(headers[i], headers[i + 1]);
    }
    HttpRequest.BodyPublisher publisher = HttpRequest.BodyPublishers.noBody();
    String contentType = "application/fhir+json";
    if (body instanceof IBaseResource resource) {
      publisher = json(resource);
    } else if (body instanceof String text) {
      publisher = HttpRequest.BodyPublishers.ofString(text);
      contentType = "application/json-patch+json";
    }
    try {
      return http.send(builder.method(method, publisher).header("Content-Type", contentType).build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  String base() {
    return base;
  }

  public static <T extends IBaseResource> T parse(HttpResponse<String> response, Class<T> type) {
    return FHIR.newJsonParser().parseResource(type, response.body());
  }

  /** Asserts an OperationOutcome with this status and returns its diagnostics. */
  public static String outcome(HttpResponse<String> response, int status) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
    OperationOutcome outcome = parse(response, OperationOutcome.class);
    return outcome.getIssueFirstRep().getDiagnostics();
  }

  private HttpRequest.Builder request(String path, String token) {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(base + "/" + path))
        .header("Accept", "application/fhir+json");
    if (token != null) {
      builder.header("Authorization", "Bearer " + token);
    }
    return builder;
  }

  private static HttpRequest.BodyPublisher json(IBaseResource body) {
    return HttpRequest.BodyPublishers.ofString(FHIR.newJsonParser().encodeResourceToString(body));
  }

  private HttpResponse<String> send(HttpRequest.Builder request) {
    try {
      return http.send(request.header("Content-Type", "application/fhir+json").build(),
          HttpResponse.BodyHandlers.ofString());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
