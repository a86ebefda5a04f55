package dev.medgemmafhir.interceptors.smart;

import java.net.URI;
import java.util.List;

/**
 * Where access tokens come from and what they must say.
 *
 * @param issuer the authorization server's issuer URL; tokens must carry exactly this {@code iss}
 * @param audience the value tokens must carry in {@code aud} (usually this server's FHIR base URL)
 * @param jwksUri the issuer's JWK set; {@code null} means "read {@code jwks_uri} from the issuer's
 *     {@code /.well-known/openid-configuration}, else its {@code /.well-known/smart-configuration}"
 * @param tokenEndpoint published in {@code .well-known/smart-configuration}; {@code null} means
 *     "as discovered from the issuer"
 * @param authorizeEndpoint as {@code tokenEndpoint}, for the authorization endpoint
 * @param capabilities the SMART capabilities published in {@code .well-known/smart-configuration}
 */
public record SmartSettings(
    URI issuer, String audience, URI jwksUri, URI tokenEndpoint, URI authorizeEndpoint, List<String> capabilities) {

  /** What this resource server supports when the configuration does not say otherwise. */
  public static final List<String> DEFAULT_CAPABILITIES = List.of(
      "launch-standalone",
      "client-public",
      "client-confidential-symmetric",
      "client-confidential-asymmetric",
      "context-standalone-patient",
      "permission-patient",
      "permission-user",
      "permission-v1",
      "permission-v2");

  public SmartSettings {
    if (issuer == null) {
      throw new IllegalArgumentException("medgemma.security.issuer must be set when security is enabled");
    }
    if (audience == null || audience.isBlank()) {
      throw new IllegalArgumentException(
          "medgemma.security.audience must be set when security is enabled (the 'aud' tokens are issued for)");
    }
    capabilities = capabilities == null || capabilities.isEmpty() ? DEFAULT_CAPABILITIES : List.copyOf(capabilities);
  }

  /** The issuer as it must appear in {@code iss}: exactly as configured. */
  public String issuerClaim() {
    return issuer.toString();
  }
}
