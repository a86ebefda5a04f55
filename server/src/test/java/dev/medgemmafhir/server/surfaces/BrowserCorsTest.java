package dev.medgemmafhir.server.surfaces;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * CORS over real HTTP, with security on: a browser app on a listed origin may call its surface
 * (a SMART app {@code /fhir}, a CDS client {@code /cds-services}), every other origin, including
 * the other surface's, gets no CORS headers and a 403 preflight, and a token is still required.
 */
class BrowserCorsTest extends SecuredSurfacesServer {

  static final String STRANGER = "http://127.0.0.1:8282";
  final HttpClient http = HttpClient.newHttpClient();

  @Test
  void aSmartAppOnTheListedOriginMayCallTheFhirApiAndStillNeedsAToken() throws Exception {
    HttpResponse<String> preflight = preflight("/fhir/Patient", SMART_APP_ORIGIN, "POST", "authorization,content-type,prefer");
    assertThat(preflight.statusCode()).isEqualTo(200);
    assertThat(allowOrigin(preflight)).contains(SMART_APP_ORIGIN);
    assertThat(header(preflight, "Access-Control-Allow-Methods")).contains("POST").contains("PATCH").contains("DELETE");
    assertThat(header(preflight, "Access-Control-Allow-Headers").toLowerCase())
        .contains("authorization").contains("content-type").contains("prefer");
    assertThat(header(preflight, "Access-Control-Allow-Credentials")).isEmpty();

    HttpResponse<String> created = http.send(HttpRequest.newBuilder(URI.create(url("/fhir/Patient")))
        .header("Origin", SMART_APP_ORIGIN).header("Authorization", "Bearer " + ISSUER.token(ADMIN))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"resourceType\":\"Patient\"}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    assertThat(allowOrigin(created)).contains(SMART_APP_ORIGIN);
    assertThat(header(created, "Access-Control-Expose-Headers")).contains("Location").contains("ETag");

    // An allowed origin is no credential: without a token the API still answers 401.
    HttpResponse<String> anonymous = get("/fhir/Patient", SMART_APP_ORIGIN);
    assertThat(anonymous.statusCode()).isEqualTo(401);

    // Another origin, and the CDS client's origin, may not call /fhir from a browser.
    for (String origin : new String[] {STRANGER, CDS_CLIENT_ORIGIN}) {
      HttpResponse<String> refused = preflight("/fhir/Patient", origin, "GET", "authorization");
      assertThat(refused.statusCode()).as(origin).isEqualTo(403);
      assertThat(allowOrigin(refused)).as(origin).isEmpty();
      assertThat(allowOrigin(get("/fhir/metadata", origin))).as(origin).isEmpty();
    }
  }

  @Test
  void aCdsClientOnTheListedOriginMayCallTheServicesAndNoOtherOriginMay() throws Exception {
    HttpResponse<String> preflight = preflight("/cds-services/medgemma-patient-summary", CDS_CLIENT_ORIGIN, "POST",
        "authorization,content-type");
    assertThat(preflight.statusCode()).isEqualTo(200);
    assertThat(allowOrigin(preflight)).contains(CDS_CLIENT_ORIGIN);

    HttpResponse<String> discovery = get("/cds-services", CDS_CLIENT_ORIGIN);
    assertThat(discovery.statusCode()).isEqualTo(200);
    assertThat(allowOrigin(discovery)).contains(CDS_CLIENT_ORIGIN);

    for (String origin : new String[] {STRANGER, SMART_APP_ORIGIN}) {
      HttpResponse<String> refused = preflight("/cds-services/medgemma-patient-summary", origin, "POST", "authorization");
      assertThat(refused.statusCode()).as(origin).isEqualTo(403);
      assertThat(allowOrigin(refused)).as(origin).isEmpty();
      assertThat(allowOrigin(get("/cds-services", origin))).as(origin).isEmpty();
    }
  }

  HttpResponse<String> preflight(String path, String origin, String method, String headers) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url(path)))
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
        .header("Origin", origin).header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers).build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> get(String path, String origin) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url(path))).header("Origin", origin)
        .header("Accept", "application/json").GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  String url(String path) {
    return "http://localhost:" + port + path;
  }

  static Optional<String> allowOrigin(HttpResponse<String> response) {
    return response.headers().firstValue("Access-Control-Allow-Origin");
  }

  static String header(HttpResponse<String> response, String name) {
    return response.headers().firstValue(name).orElse("");
  }
}
