package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import com.nimbusds.jose.util.JSONObjectUtils;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.hl7.fhir.instance.model.api.IBaseConformance;
import org.hl7.fhir.r4.model.CapabilityStatement;
import org.hl7.fhir.r4.model.CapabilityStatement.CapabilityStatementRestComponent;
import org.hl7.fhir.r4.model.CapabilityStatement.CapabilityStatementRestSecurityComponent;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Extension;
import org.hl7.fhir.r4.model.UriType;

/**
 * Publishes how to get a token: {@code GET [base]/.well-known/smart-configuration} (SMART App
 * Launch 2.x discovery, no token needed) and the CapabilityStatement's {@code rest.security}
 * (SMART-on-FHIR service, OAuth URIs, the operation scope policy). All from configuration, with
 * endpoints the configuration leaves out discovered from the issuer.
 */
@Interceptor
public class SmartConfigurationInterceptor {

  public static final String PATH = "/.well-known/smart-configuration";
  static final String OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";

  private final SmartSettings settings;
  private final IssuerMetadata issuer;

  public SmartConfigurationInterceptor(SmartSettings settings, IssuerMetadata issuer) {
    this.settings = settings;
    this.issuer = issuer;
  }

  /** The discovery document. */
  public Map<String, Object> document() {
    Map<String, Object> doc = new LinkedHashMap<>();
    doc.put("issuer", settings.issuerClaim());
    putIfKnown(doc, "jwks_uri", safely(issuer::jwksUri));
    putIfKnown(doc, "authorization_endpoint", issuer.authorizeEndpoint());
    putIfKnown(doc, "token_endpoint", issuer.tokenEndpoint());
    doc.put("grant_types_supported", List.of("authorization_code", "client_credentials"));
    doc.put("token_endpoint_auth_methods_supported", List.of("client_secret_basic", "private_key_jwt"));
    doc.put("response_types_supported", List.of("code"));
    doc.put("scopes_supported", List.of(
        "openid", "fhirUser", "launch/patient", "offline_access",
        "patient/*.rs", "user/*.rs", "user/*.cruds", "system/*.rs", "system/*.cruds",
        "patient/*.read", "user/*.read", "user/*.write", "system/*.read", "system/*.write"));
    doc.put("capabilities", settings.capabilities());
    doc.put("code_challenge_methods_supported", List.of("S256"));
    return doc;
  }

  @Hook(Pointcut.SERVER_INCOMING_REQUEST_PRE_PROCESSED)
  public boolean serveDiscovery(HttpServletRequest request, HttpServletResponse response) throws IOException {
    if (!PATH.equals(request.getPathInfo()) || !"GET".equals(request.getMethod())) {
      return true;
    }
    byte[] body = JSONObjectUtils.toJSONString(document()).getBytes(StandardCharsets.UTF_8);
    response.setStatus(200);
    response.setContentType("application/json");
    response.setCharacterEncoding("UTF-8");
    response.setContentLength(body.length);
    response.getOutputStream().write(body);
    response.getOutputStream().flush();
    return false;
  }

  @Hook(Pointcut.SERVER_CAPABILITY_STATEMENT_GENERATED)
  public void describeSecurity(IBaseConformance capabilityStatement) {
    if (!(capabilityStatement instanceof CapabilityStatement cs)) {
      return;
    }
    for (CapabilityStatementRestComponent rest : cs.getRest()) {
      CapabilityStatementRestSecurityComponent security = rest.getSecurity();
      security.setCors(true);
      security.getService().clear();
      security.addService(new CodeableConcept(new Coding(
          "http://terminology.hl7.org/CodeSystem/restful-security-service", "SMART-on-FHIR", "SMART-on-FHIR")));
      security.removeExtension(OAUTH_URIS);
      Extension uris = security.addExtension().setUrl(OAUTH_URIS);
      addUri(uris, "token", issuer.tokenEndpoint());
      addUri(uris, "authorize", issuer.authorizeEndpoint());
      security.setDescription("SMART App Launch 2.x bearer tokens from " + settings.issuerClaim()
          + " (see .well-known/smart-configuration). Scopes v2 (cruds) or v1 (read/write). "
          + "Operations: " + OperationScopePolicy.describe() + ".");
    }
  }

  private static void addUri(Extension parent, String name, URI value) {
    if (value != null) {
      parent.addExtension(name, new UriType(value.toString()));
    }
  }

  private static void putIfKnown(Map<String, Object> doc, String key, URI value) {
    if (value != null) {
      doc.put(key, value.toString());
    }
  }

  private static URI safely(java.util.function.Supplier<URI> supplier) {
    try {
      return supplier.get();
    } catch (IllegalStateException e) {
      return null;
    }
  }
}
