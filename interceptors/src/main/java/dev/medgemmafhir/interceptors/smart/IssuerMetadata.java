package dev.medgemmafhir.interceptors.smart;

import com.nimbusds.jose.util.JSONObjectUtils;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.text.ParseException;
import java.time.Duration;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The issuer's published endpoints, read once from its {@code /.well-known/openid-configuration}
 * (else {@code /.well-known/smart-configuration}) when the configuration leaves them out. A
 * failed discovery is retried on the next request, so the server starts while the issuer is down.
 */
public class IssuerMetadata {

  private static final Logger LOG = LoggerFactory.getLogger(IssuerMetadata.class);
  private static final String[] DOCUMENTS = {"/.well-known/openid-configuration", "/.well-known/smart-configuration"};

  private final SmartSettings settings;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).followRedirects(HttpClient.Redirect.NORMAL).build();
  private volatile Map<String, Object> discovered;

  public IssuerMetadata(SmartSettings settings) {
    this.settings = settings;
  }

  /** The JWK set URL: configured, else discovered. */
  public URI jwksUri() {
    return settings.jwksUri() != null ? settings.jwksUri() : required("jwks_uri");
  }

  /** The token endpoint: configured, else discovered, else {@code null}. */
  public URI tokenEndpoint() {
    return settings.tokenEndpoint() != null ? settings.tokenEndpoint() : optional("token_endpoint");
  }

  /** The authorization endpoint: configured, else discovered, else {@code null}. */
  public URI authorizeEndpoint() {
    return settings.authorizeEndpoint() != null ? settings.authorizeEndpoint() : optional("authorization_endpoint");
  }

  private URI required(String key) {
    URI uri = optional(key);
    if (uri == null) {
      throw new IllegalStateException("The issuer " + settings.issuer() + " publishes no " + key
          + "; set medgemma.security.jwks-uri");
    }
    return uri;
  }

  private URI optional(String key) {
    Object value;
    try {
      value = document().get(key);
    } catch (IllegalStateException e) {
      return null;
    }
    return value instanceof String s && !s.isBlank() ? URI.create(s) : null;
  }

  private Map<String, Object> document() {
    Map<String, Object> doc = discovered;
    if (doc != null) {
      return doc;
    }
    synchronized (this) {
      if (discovered == null) {
        discovered = fetch();
      }
      return discovered;
    }
  }

  private Map<String, Object> fetch() {
    String base = settings.issuer().toString().replaceAll("/+$", "");
    for (String path : DOCUMENTS) {
      URI uri = URI.create(base + path);
      try {
        HttpResponse<String> response = http.send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).header("Accept", "application/json").build(),
            HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 200) {
          LOG.info("Discovered the token issuer's endpoints from {}", uri);
          return JSONObjectUtils.parse(response.body());
        }
        LOG.info("Issuer discovery: {} answered HTTP {}", uri, response.statusCode());
      } catch (IOException | ParseException e) {
        LOG.warn("Issuer discovery: {} failed: {}", uri, e.toString());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    throw new IllegalStateException("Could not discover the endpoints of the issuer " + settings.issuer());
  }
}
