package dev.medgemmafhir.server.security;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.read.ListAppender;
import dev.medgemmafhir.interceptors.smart.TestIssuer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Logs above DEBUG carry no element values, headers or tokens, and a refused request is one line
 * (method, path, client, reason) without a stack trace. Everything the server logs while it
 * handles the requests below is captured and searched for unique markers.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:log-hygiene;DB_CLOSE_DELAY=-1")
class LogHygieneTest {

  static final TestIssuer ISSUER = startIssuer();

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
  }

  @LocalServerPort int port;
  final ListAppender<ILoggingEvent> logs = new ListAppender<>();
  final String marker = "MARKER" + UUID.randomUUID().toString().replace("-", "");

  @BeforeEach
  void capture() {
    logs.start();
    root().addAppender(logs);
  }

  @AfterEach
  void release() {
    root().detachAppender(logs);
  }

  @AfterAll
  static void stopIssuer() {
    ISSUER.close();
  }

  @Test
  void invalidElementValuesOfARejectedBodyAreNotLogged() throws Exception {
    String token = ISSUER.token("user/*.cruds", c -> c.claim("client_id", "log-test-app"));
    String patient = "{\"resourceType\":\"Patient\",\"birthDate\":\"" + marker + "-birth\","
        + "\"gender\":\"" + marker + "-gender\",\"name\":[{\"family\":\"" + marker + "-name\"}],"
        + "\"" + marker + "element\":\"" + marker + "-unknown\"}";
    HttpResponse<String> response = send("POST", "Patient", token, patient);
    assertThat(response.statusCode()).as(response.body()).isEqualTo(400);

    String document = "{\"resourceType\":\"DocumentReference\",\"status\":\"current\",\"content\":[{\"attachment\":"
        + "{\"contentType\":\"text/plain\",\"data\":\"" + marker + "!!not-base64\",\"size\":\"" + marker + "\"}}]}";
    assertThat(send("POST", "DocumentReference", token, document).statusCode()).isEqualTo(400);

    assertThat(logged()).doesNotContain(marker);
    assertThat(refusals()).anySatisfy(line -> assertThat(line)
        .contains("POST /Patient").contains("client=log-test-app").contains("400"));
  }

  @Test
  void aMalformedHeaderLineWithABearerTokenIsNotLogged() throws Exception {
    String request = "GET /fhir/Patient HTTP/1.1\r\nHost: localhost\r\n"
        + "Authorization: Bearer " + marker + "token\u0001rest\r\n"
        + "X-Broken " + marker + "header\r\n\r\n";
    try (Socket socket = new Socket("localhost", port)) {
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = socket.getInputStream();
      String status = new String(in.readNBytes(12), StandardCharsets.ISO_8859_1);
      assertThat(status).startsWith("HTTP/1.1 4");
    }
    // A second, valid request: whatever Tomcat logs about the first has been written by then.
    assertThat(send("GET", "metadata", null, null).statusCode()).isEqualTo(200);
    assertThat(logged()).doesNotContain(marker);
  }

  @Test
  void aRefusedRequestIsOneLineWithMethodPathClientAndReasonAndNoStackTrace() throws Exception {
    String token = ISSUER.token("user/Observation.r", c -> c.claim("client_id", "refused-app"));
    HttpResponse<String> response = send("GET", "Patient?name=" + marker, token, null);
    assertThat(response.statusCode()).isEqualTo(403);
    HttpResponse<String> unauthenticated = send("DELETE", "Patient/123", null, null);
    assertThat(unauthenticated.statusCode()).isEqualTo(401);
    String ai = "{\"resourceType\":\"Provenance\",\"target\":[{\"reference\":\"Patient/1\"}],\"recorded\":"
        + "\"2026-01-01T00:00:00Z\",\"agent\":[{\"type\":{\"coding\":[{\"system\":"
        + "\"http://terminology.hl7.org/CodeSystem/provenance-participant-type\",\"code\":\"verifier\"}]},"
        + "\"who\":{\"reference\":\"Practitioner/1\"}}]}";
    assertThat(send("POST", "Provenance", ISSUER.token("user/*.cruds", c -> c.claim("client_id", "forger")), ai)
        .statusCode()).isEqualTo(422);

    List<String> refusals = refusals();
    assertThat(refusals.stream().filter(l -> l.contains("GET /Patient client=refused-app -> 403"))).hasSize(1);
    assertThat(refusals.stream().filter(l -> l.contains("DELETE /Patient/123 client=anonymous -> 401"))).hasSize(1);
    assertThat(refusals.stream().filter(l -> l.contains("POST /Provenance client=forger -> 422")
        && l.contains("verifier"))).hasSize(1);
    assertThat(logged()).doesNotContain(marker);
    assertThat(logs.list).filteredOn(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
        .allSatisfy(e -> assertThat(e.getThrowableProxy()).as(e.getFormattedMessage()).isNull());
  }

  /** Every captured line above DEBUG, with its stack trace's messages. */
  String logged() {
    return logs.list.stream().filter(e -> e.getLevel().isGreaterOrEqual(Level.INFO))
        .map(e -> e.getLoggerName() + " " + e.getFormattedMessage() + throwable(e.getThrowableProxy()))
        .collect(Collectors.joining("\n"));
  }

  List<String> refusals() {
    return logs.list.stream().filter(e -> e.getLoggerName().endsWith("RefusedRequestLog"))
        .map(ILoggingEvent::getFormattedMessage).toList();
  }

  private static String throwable(IThrowableProxy proxy) {
    return proxy == null ? "" : " " + proxy.getClassName() + ": " + proxy.getMessage() + throwable(proxy.getCause());
  }

  private HttpResponse<String> send(String method, String path, String token, String body) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/fhir/" + path))
        .header("Content-Type", "application/fhir+json")
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    return HttpClient.newHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static Logger root() {
    return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  }

  private static TestIssuer startIssuer() {
    try {
      return new TestIssuer();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
