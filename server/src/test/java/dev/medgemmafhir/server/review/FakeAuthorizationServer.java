package dev.medgemmafhir.server.review;

import com.nimbusds.jose.util.JSONObjectUtils;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.medgemmafhir.interceptors.smart.TestIssuer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A SMART authorization server for tests: {@code /authorize} approves at once with the grant the
 * test chose (scopes, patient, fhirUser) and {@code /token} exchanges the code for an access token
 * signed by {@link TestIssuer}'s key, checking what a real server checks for a public client:
 * client id, redirect URI, and the PKCE S256 verifier.
 */
final class FakeAuthorizationServer implements AutoCloseable {

  /** What the user "approves": scopes granted, the patient in context, the user's FHIR resource. */
  record Grant(String scope, String patient, String fhirUser) {}

  /** One authorization request as the app sent it. */
  record Authorization(Map<String, String> parameters) {}

  private record PendingCode(Grant grant, String challenge, String redirectUri, String clientId) {}

  private final HttpServer server;
  private final TestIssuer issuer;
  private final String clientId;
  private volatile String redirectUri = "";
  private final Map<String, PendingCode> codes = new ConcurrentHashMap<>();
  final List<Authorization> authorizations = new CopyOnWriteArrayList<>();
  final List<String> refusals = new CopyOnWriteArrayList<>();
  private volatile Grant grant;

  FakeAuthorizationServer(TestIssuer issuer, String clientId) throws IOException {
    this.issuer = issuer;
    this.clientId = clientId;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/authorize", this::authorize);
    server.createContext("/token", this::token);
    server.start();
  }

  URI authorizeEndpoint() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/authorize");
  }

  URI tokenEndpoint() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/token");
  }

  /** Registers the client's redirect URI (known once the app's server has its port). */
  void registerRedirectUri(String uri) {
    redirectUri = uri;
  }

  /** The next sign-ins are approved with this grant. */
  void approve(Grant next) {
    grant = next;
  }

  private void authorize(HttpExchange exchange) throws IOException {
    Map<String, String> query = parse(exchange.getRequestURI().getRawQuery());
    authorizations.add(new Authorization(query));
    String problem = null;
    if (!"code".equals(query.get("response_type"))) {
      problem = "response_type must be code";
    } else if (!clientId.equals(query.get("client_id"))) {
      problem = "unknown client_id " + query.get("client_id");
    } else if (!redirectUri.equals(query.get("redirect_uri"))) {
      problem = "unregistered redirect_uri " + query.get("redirect_uri");
    } else if (!"S256".equals(query.get("code_challenge_method")) || query.get("code_challenge") == null) {
      problem = "PKCE with S256 is required";
    } else if (query.get("state") == null || query.get("aud") == null || query.get("scope") == null) {
      problem = "state, aud and scope are required";
    } else if (grant == null) {
      problem = "the test approved no grant";
    }
    if (problem != null) {
      refusals.add(problem);
      send(exchange, 400, "text/plain", problem);
      return;
    }
    String code = UUID.randomUUID().toString();
    codes.put(code, new PendingCode(grant, query.get("code_challenge"), query.get("redirect_uri"), query.get("client_id")));
    exchange.getResponseHeaders().add("Location", query.get("redirect_uri") + "?code=" + code + "&state="
        + URLEncoder.encode(query.get("state"), StandardCharsets.UTF_8));
    exchange.sendResponseHeaders(302, -1);
    exchange.close();
  }

  private void token(HttpExchange exchange) throws IOException {
    // The app is served from another origin: the browser needs CORS to read the answer.
    exchange.getResponseHeaders().add("Access-Control-Allow-Origin", "*");
    if ("OPTIONS".equals(exchange.getRequestMethod())) {
      exchange.getResponseHeaders().add("Access-Control-Allow-Headers", "Content-Type, Accept");
      exchange.getResponseHeaders().add("Access-Control-Allow-Methods", "POST");
      exchange.sendResponseHeaders(204, -1);
      exchange.close();
      return;
    }
    Map<String, String> form = parse(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8));
    PendingCode pending = form.get("code") == null ? null : codes.remove(form.get("code"));
    String problem = null;
    if (!"POST".equals(exchange.getRequestMethod()) || !"authorization_code".equals(form.get("grant_type"))) {
      problem = "unsupported_grant_type";
    } else if (pending == null) {
      problem = "invalid_grant: unknown or used code";
    } else if (!pending.redirectUri().equals(form.get("redirect_uri")) || !pending.clientId().equals(form.get("client_id"))) {
      problem = "invalid_grant: redirect_uri or client_id differ from the authorization request";
    } else if (form.get("code_verifier") == null || !pending.challenge().equals(s256(form.get("code_verifier")))) {
      problem = "invalid_grant: PKCE verifier does not match the challenge";
    }
    if (problem != null) {
      refusals.add(problem);
      send(exchange, 400, "application/json", "{\"error\":\"" + problem.replace("\"", "'") + "\"}");
      return;
    }
    Grant granted = pending.grant();
    String accessToken = issuer.token(granted.scope(), claims -> {
      if (granted.patient() != null) {
        claims.claim("patient", granted.patient());
      }
      if (granted.fhirUser() != null) {
        claims.claim("fhirUser", granted.fhirUser());
      }
      claims.claim("client_id", clientId);
    });
    Map<String, Object> response = new LinkedHashMap<>();
    response.put("access_token", accessToken);
    response.put("token_type", "Bearer");
    response.put("expires_in", 300);
    response.put("scope", granted.scope());
    if (granted.patient() != null) {
      response.put("patient", granted.patient());
    }
    send(exchange, 200, "application/json", JSONObjectUtils.toJSONString(response));
  }

  private static String s256(String verifier) {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(verifier.getBytes(StandardCharsets.US_ASCII));
      return Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static Map<String, String> parse(String encoded) {
    Map<String, String> values = new LinkedHashMap<>();
    if (encoded == null || encoded.isEmpty()) {
      return values;
    }
    for (String pair : encoded.split("&")) {
      int eq = pair.indexOf('=');
      String name = URLDecoder.decode(eq < 0 ? pair : pair.substring(0, eq), StandardCharsets.UTF_8);
      values.put(name, eq < 0 ? "" : URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return values;
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", contentType);
    exchange.getResponseHeaders().add("Cache-Control", "no-store");
    exchange.sendResponseHeaders(status, bytes.length);
    exchange.getResponseBody().write(bytes);
    exchange.close();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
