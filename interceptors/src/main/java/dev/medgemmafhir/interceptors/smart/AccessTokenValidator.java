package dev.medgemmafhir.interceptors.smart;

import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.jwk.source.JWKSourceBuilder;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.DefaultJOSEObjectTypeVerifier;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import com.nimbusds.jwt.proc.JWTProcessor;
import java.net.MalformedURLException;
import java.text.ParseException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Validates SMART access tokens with Nimbus JOSE + JWT: the signature against the issuer's JWK
 * set (fetched over HTTP, cached for a configurable lifetime, and fetched again when a token names
 * a key id the cache does not know: that is how key rotation is picked up), then {@code iss} (exact), {@code aud}
 * (contains the configured audience), {@code exp} (required) and {@code nbf}, with one minute of
 * clock skew.
 */
public class AccessTokenValidator {

  private static final Logger LOG = LoggerFactory.getLogger(AccessTokenValidator.class);

  private static final Set<JWSAlgorithm> ALGORITHMS = Set.of(
      JWSAlgorithm.RS256, JWSAlgorithm.RS384, JWSAlgorithm.RS512,
      JWSAlgorithm.PS256, JWSAlgorithm.PS384, JWSAlgorithm.PS512,
      JWSAlgorithm.ES256, JWSAlgorithm.ES384, JWSAlgorithm.ES512);

  /** A FHIR resource id; the {@code patient} claim must be one (not a URL, version or search). */
  private static final Pattern FHIR_ID = Pattern.compile("[A-Za-z0-9\\-.]{1,64}");

  private final SmartSettings settings;
  private final IssuerMetadata issuer;
  private final Duration jwksMinRefreshInterval;
  private final Duration jwksCacheLifetime;
  private volatile JWTProcessor<SecurityContext> processor;

  /**
   * @param jwksMinRefreshInterval the shortest time between two JWK set downloads caused by unknown
   *     key ids (protects the issuer from being hammered by forged tokens)
   * @param jwksCacheLifetime how long a downloaded JWK set is trusted: a key the issuer removed is
   *     refused at the latest this long after its removal; must be longer than
   *     {@code jwksMinRefreshInterval}
   */
  public AccessTokenValidator(SmartSettings settings, IssuerMetadata issuer, Duration jwksMinRefreshInterval,
      Duration jwksCacheLifetime) {
    if (jwksMinRefreshInterval.compareTo(jwksCacheLifetime) >= 0) {
      throw new IllegalArgumentException("medgemma.security.jwks-min-refresh-interval (" + jwksMinRefreshInterval
          + ") must be shorter than medgemma.security.jwks-cache-lifetime (" + jwksCacheLifetime + ")");
    }
    this.settings = settings;
    this.issuer = issuer;
    this.jwksMinRefreshInterval = jwksMinRefreshInterval;
    this.jwksCacheLifetime = jwksCacheLifetime;
  }

  /** The principal the token speaks for; throws when the token is not acceptable. */
  public SmartPrincipal validate(String token) throws InvalidTokenException {
    JWTClaimsSet claims;
    try {
      claims = processor().process(token, null);
    } catch (ParseException e) {
      throw new InvalidTokenException("The access token is not a JWT");
    } catch (BadJOSEException e) {
      throw new InvalidTokenException("The access token was rejected: " + e.getMessage());
    } catch (com.nimbusds.jose.JOSEException e) {
      throw new InvalidTokenException("The access token could not be verified: " + e.getMessage());
    } catch (IllegalStateException e) {
      LOG.error("Cannot validate access tokens: {}", e.getMessage());
      throw new InvalidTokenException("The access token cannot be validated now: the issuer's keys are unavailable");
    }
    try {
      return principal(claims);
    } catch (ParseException e) {
      throw new InvalidTokenException("The access token has a malformed claim: " + e.getMessage());
    }
  }

  private static SmartPrincipal principal(JWTClaimsSet claims) throws ParseException {
    List<String> scopes;
    Object scope = claims.getClaim("scope");
    if (scope instanceof String s) {
      scopes = Arrays.asList(s.trim().split("\\s+"));
    } else if (claims.getClaim("scp") != null) {
      scopes = claims.getStringListClaim("scp");
    } else {
      scopes = List.of();
    }
    String clientId = claims.getStringClaim("client_id");
    if (clientId == null) {
      clientId = claims.getStringClaim("azp");
    }
    String patient = claims.getStringClaim("patient");
    if (patient != null && patient.startsWith("Patient/")) {
      patient = patient.substring("Patient/".length());
    }
    if (patient != null && !FHIR_ID.matcher(patient).matches()) {
      throw new ParseException("'patient' must be a Patient id (FHIR id: 1-64 of A-Z a-z 0-9 - .)", 0);
    }
    return new SmartPrincipal(
        claims.getSubject(), clientId, claims.getStringClaim("fhirUser"), patient, SmartScope.parseAll(scopes));
  }

  private JWTProcessor<SecurityContext> processor() {
    JWTProcessor<SecurityContext> p = processor;
    if (p != null) {
      return p;
    }
    synchronized (this) {
      if (processor == null) {
        processor = newProcessor();
      }
      return processor;
    }
  }

  private JWTProcessor<SecurityContext> newProcessor() {
    JWKSource<SecurityContext> keys;
    try {
      // No refresh-ahead: a key set is used until its lifetime ends, then downloaded again before
      // the next token is checked, so a removed key stops working within the lifetime.
      keys = JWKSourceBuilder.<SecurityContext>create(issuer.jwksUri().toURL())
          .cache(jwksCacheLifetime.toMillis(), JWKSourceBuilder.DEFAULT_CACHE_REFRESH_TIMEOUT)
          .refreshAheadCache(false)
          .rateLimited(jwksMinRefreshInterval.toMillis())
          .build();
    } catch (MalformedURLException e) {
      throw new IllegalStateException("The JWK set URL is not a URL: " + e.getMessage());
    }
    LOG.info("Access tokens are validated against the keys at {}", issuer.jwksUri());
    DefaultJWTProcessor<SecurityContext> p = new DefaultJWTProcessor<>();
    // RFC 9068 access tokens are typed at+jwt; many issuers still send JWT or no type.
    p.setJWSTypeVerifier(new DefaultJOSEObjectTypeVerifier<>(
        JOSEObjectType.JWT, new JOSEObjectType("at+jwt"), new JOSEObjectType("application/at+jwt"), null));
    p.setJWSKeySelector(new JWSVerificationKeySelector<>(ALGORITHMS, keys));
    p.setJWTClaimsSetVerifier(new DefaultJWTClaimsVerifier<>(
        settings.audience(),
        new JWTClaimsSet.Builder().issuer(settings.issuerClaim()).build(),
        Set.of("iss", "aud", "exp", "sub")));
    return p;
  }
}
