package dev.medgemmafhir.interceptors.smart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.nimbusds.jose.PlainHeader;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.PlainJWT;
import java.time.Duration;
import java.util.Date;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class AccessTokenValidatorTest {

  TestIssuer issuer;
  AccessTokenValidator validator;

  @BeforeEach
  void start() throws Exception {
    issuer = new TestIssuer();
    // No jwks-uri configured: it is discovered from the issuer's openid-configuration.
    SmartSettings settings = new SmartSettings(issuer.issuer(), TestIssuer.AUDIENCE, null, null, null, List.of());
    validator = new AccessTokenValidator(settings, new IssuerMetadata(settings), Duration.ofSeconds(30),
        Duration.ofSeconds(60));
  }

  @AfterEach
  void stop() {
    issuer.close();
  }

  @Test
  void aValidTokenYieldsItsSubjectContextAndScopes() throws Exception {
    SmartPrincipal principal = validator.validate(issuer.token("openid patient/Observation.rs user/Encounter.read",
        c -> c.claim("patient", "Patient/p1").claim("fhirUser", "Practitioner/dr1")));

    assertThat(principal.subject()).isEqualTo("user-1");
    assertThat(principal.clientId()).isEqualTo("test-app");
    assertThat(principal.patient()).isEqualTo("p1");
    assertThat(principal.fhirUserId("https://fhir.test/fhir").getValue()).isEqualTo("Practitioner/dr1");
    assertThat(principal.scopes()).containsExactly(
        new SmartScope(SmartScope.Context.PATIENT, "Observation", "rs"),
        new SmartScope(SmartScope.Context.USER, "Encounter", "rs"));
  }

  @Test
  void rejectsWrongIssuerAudienceExpiryNotBeforeSignatureAndUnsignedTokens() {
    Date past = new Date(System.currentTimeMillis() - 600_000);
    Date future = new Date(System.currentTimeMillis() + 600_000);
    assertRejected(issuer.token("user/*.rs", c -> c.issuer("https://evil.example")));
    assertRejected(issuer.token("user/*.rs", c -> c.audience("https://other-server.example/fhir")));
    assertRejected(issuer.token("user/*.rs", c -> c.expirationTime(past)));
    assertRejected(issuer.token("user/*.rs", c -> c.notBeforeTime(future)));
    assertRejected(issuer.token("user/*.rs", c -> c.expirationTime(null)));
    assertRejected(issuer.forgedToken("user/*.rs"));
    assertRejected(new PlainJWT(new PlainHeader(), new JWTClaimsSet.Builder()
        .issuer(issuer.issuer().toString()).audience(TestIssuer.AUDIENCE).subject("x")
        .expirationTime(future).build()).serialize());
    assertRejected("not-a-jwt");
  }

  @Test
  void aRotatedKeyIsPickedUpByFetchingTheKeySetAgain() throws Exception {
    validator.validate(issuer.token("user/*.rs"));
    validator.validate(issuer.token("user/*.rs"));
    assertThat(issuer.jwksFetches()).isEqualTo(1);

    issuer.rotate();

    assertThat(validator.validate(issuer.token("system/*.rs")).scopes()).hasSize(1);
    assertThat(issuer.jwksFetches()).isEqualTo(2);
  }

  @Test
  void aKeyTheIssuerRemovedIsRefusedOnceTheCacheLifetimeHasPassed() throws Exception {
    SmartSettings settings = new SmartSettings(issuer.issuer(), TestIssuer.AUDIENCE, null, null, null, List.of());
    Duration lifetime = Duration.ofMillis(300);
    AccessTokenValidator shortLived = new AccessTokenValidator(settings, new IssuerMetadata(settings),
        Duration.ofMillis(1), lifetime);
    AccessTokenValidator longLived = new AccessTokenValidator(settings, new IssuerMetadata(settings),
        Duration.ofMillis(1), Duration.ofMinutes(5));
    String oldKeyToken = issuer.token("user/*.rs");
    shortLived.validate(oldKeyToken);
    longLived.validate(oldKeyToken);

    issuer.rotate();
    Thread.sleep(lifetime.multipliedBy(3).toMillis());

    assertThatThrownBy(() -> shortLived.validate(oldKeyToken)).isInstanceOf(InvalidTokenException.class);
    // Without a bound (Nimbus' own default is five minutes) the removed key would still be trusted.
    assertThat(longLived.validate(oldKeyToken).subject()).isEqualTo("user-1");
  }

  @Test
  void theRefreshIntervalMustBeShorterThanTheCacheLifetime() {
    SmartSettings settings = new SmartSettings(issuer.issuer(), TestIssuer.AUDIENCE, null, null, null, List.of());
    assertThatThrownBy(() -> new AccessTokenValidator(settings, new IssuerMetadata(settings), Duration.ofSeconds(60),
        Duration.ofSeconds(60))).hasMessageContaining("medgemma.security.jwks-cache-lifetime");
  }

  private void assertRejected(String token) {
    assertThatThrownBy(() -> validator.validate(token)).isInstanceOf(InvalidTokenException.class);
  }
}
