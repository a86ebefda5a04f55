package dev.medgemmafhir.server.cdshooks;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import java.net.MalformedURLException;
import java.net.URI;
import java.text.ParseException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks the JWT an EHR sends with every CDS Hooks call (CDS Hooks 2.0, "Trusting CDS Clients"):
 * signed by a key from the JWK set of a configured issuer, {@code iss} that issuer, {@code aud} the
 * URL of the service called, {@code exp} at most five minutes ahead, {@code iat}, and a {@code jti}
 * never seen before (replays are refused).
 */
public final class EhrJwtVerifier {

  /** A refused token; the message says why, never the token. */
  public static final class Refused extends Exception {
    Refused(String message) {
      super(message);
    }
  }

  private static final Duration MAX_LIFETIME = Duration.ofMinutes(5);
  private static final Duration SKEW = Duration.ofSeconds(60);
  private static final Set<JWSAlgorithm> ALGORITHMS = Set.of(JWSAlgorithm.RS256, JWSAlgorithm.RS384,
      JWSAlgorithm.RS512, JWSAlgorithm.ES256, JWSAlgorithm.ES384, JWSAlgorithm.ES512, JWSAlgorithm.PS256,
      JWSAlgorithm.PS384, JWSAlgorithm.PS512);

  private final Map<String, JWKSource<SecurityContext>> issuers = new ConcurrentHashMap<>();
  private final Map<String, Instant> seen = new ConcurrentHashMap<>();
  private final Clock clock;

  /** @param trustedIssuers issuer ({@code iss}) to the URL of its JWK set */
  public EhrJwtVerifier(Map<String, URI> trustedIssuers, Clock clock) {
    this.clock = clock;
    trustedIssuers.forEach((issuer, jwks) -> {
      try {
        issuers.put(issuer, JWKSourceBuilder.<SecurityContext>create(jwks.toURL()).retrying(true).build());
      } catch (MalformedURLException | IllegalArgumentException e) {
        throw new IllegalStateException("medgemma.cds-hooks.trusted-issuers: bad jwks-uri for " + issuer, e);
      }
    });
  }

  /**
   * @param authorization the request's {@code Authorization} header (may be null)
   * @param serviceUrl the URL of the service called: the token's {@code aud}
   */
  public JWTClaimsSet verify(String authorization, String serviceUrl) throws Refused {
    if (authorization == null || !authorization.regionMatches(true, 0, "Bearer ", 0, 7)) {
      throw new Refused("CDS Hooks calls need Authorization: Bearer <JWT signed by the EHR>");
    }
    SignedJWT jwt;
    String issuer;
    try {
      jwt = SignedJWT.parse(authorization.substring(7).strip());
      issuer = jwt.getJWTClaimsSet().getIssuer();
    } catch (ParseException e) {
      throw new Refused("The JWT cannot be parsed");
    }
    JWKSource<SecurityContext> keys = issuer == null ? null : issuers.get(issuer);
    if (keys == null) {
      throw new Refused("The JWT's issuer is not a trusted CDS client (medgemma.cds-hooks.trusted-issuers)");
    }
    DefaultJWTProcessor<SecurityContext> processor = new DefaultJWTProcessor<>();
    processor.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(JOSEObjectType.JWT, null));
    processor.setJWSKeySelector(new JWSVerificationKeySelector<>(ALGORITHMS, keys));
    DefaultJWTClaimsVerifier<SecurityContext> claims = new DefaultJWTClaimsVerifier<>(serviceUrl,
        new JWTClaimsSet.Builder().issuer(issuer).build(), Set.of("iss", "aud", "exp", "iat", "jti"));
    claims.setMaxClockSkew((int) SKEW.toSeconds());
    processor.setJWTClaimsSetVerifier(claims);
    JWTClaimsSet verified;
    try {
      verified = processor.process(jwt, null);
    } catch (Exception e) {
      throw new Refused("The JWT was refused: " + e.getMessage());
    }
    Instant now = clock.instant();
    Instant expires = verified.getExpirationTime().toInstant();
    if (expires.isAfter(now.plus(MAX_LIFETIME).plus(SKEW))) {
      throw new Refused("The JWT's exp is more than five minutes ahead");
    }
    seen.values().removeIf(expiry -> expiry.plus(SKEW).isBefore(now));
    if (seen.putIfAbsent(issuer + " " + verified.getJWTID(), expires) != null) {
      throw new Refused("The JWT's jti was already used (replay)");
    }
    return verified;
  }
}
