package dev.medgemmafhir.interceptors.smart;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * A tiny OpenID issuer for tests: publishes its discovery document and JWK set over real HTTP
 * and signs access tokens with RSA keys it can rotate. Used by the server's end-to-end tests too.
 */
public final class TestIssuer implements AutoCloseable {

  public static final String AUDIENCE = "https://fhir.test/fhir";

  private final HttpServer server;
  private final AtomicInteger jwksFetches = new AtomicInteger();
  private volatile RSAKey key;

  public TestIssuer() throws IOException {
    key = newKey();
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.createContext("/.well-known/openid-configuration", exchange -> respond(exchange,
        "{\"issuer\":\"" + issuer() + "\",\"jwks_uri\":\"" + issuer() + "/jwks.json\","
            + "\"token_endpoint\":\"" + issuer() + "/token\",\"authorization_endpoint\":\"" + issuer() + "/authorize\"}"));
    server.createContext("/jwks.json", exchange -> {
      jwksFetches.incrementAndGet();
      respond(exchange, new JWKSet(key.toPublicJWK()).toString());
    });
    server.start();
  }

  public URI issuer() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  public URI jwksUri() {
    return URI.create(issuer() + "/jwks.json");
  }

  /** How often the JWK set was downloaded. */
  public int jwksFetches() {
    return jwksFetches.get();
  }

  /** Replaces the signing key: the JWK set then only publishes the new one. */
  public void rotate() {
    key = newKey();
  }

  /** A token with {@code iss}, {@code aud}, {@code sub}, {@code exp} (+5 min) and the given scopes. */
  public String token(String scope, Consumer<JWTClaimsSet.Builder> claims) {
    JWTClaimsSet.Builder builder = new JWTClaimsSet.Builder()
        .issuer(issuer().toString())
        .audience(AUDIENCE)
        .subject("user-1")
        .claim("client_id", "test-app")
        .claim("scope", scope)
        .issueTime(new Date())
        .expirationTime(new Date(System.currentTimeMillis() + 300_000));
    claims.accept(builder);
    return sign(builder.build(), key);
  }

  public String token(String scope) {
    return token(scope, b -> {});
  }

  /** Signs with a key the issuer never published. */
  public String forgedToken(String scope) {
    JWTClaimsSet claims = new JWTClaimsSet.Builder()
        .issuer(issuer().toString()).audience(AUDIENCE).subject("user-1").claim("scope", scope)
        .expirationTime(new Date(System.currentTimeMillis() + 300_000)).build();
    return sign(claims, newKey(key.getKeyID()));
  }

  private static String sign(JWTClaimsSet claims, RSAKey key) {
    try {
      SignedJWT jwt = new SignedJWT(
          new JWSHeader.Builder(JWSAlgorithm.RS256).keyID(key.getKeyID()).type(JOSEObjectType.JWT).build(), claims);
      jwt.sign(new RSASSASigner(key));
      return jwt.serialize();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  private static RSAKey newKey() {
    return newKey(UUID.randomUUID().toString());
  }

  private static RSAKey newKey(String keyId) {
    try {
      return new RSAKeyGenerator(2048).keyID(keyId).generate();
    } catch (JOSEException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void respond(HttpExchange exchange, String json) throws IOException {
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/json");
    exchange.sendResponseHeaders(200, body.length);
    exchange.getResponseBody().write(body);
    exchange.close();
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
