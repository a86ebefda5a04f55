package dev.medgemmafhir.server.mcp;

import io.modelcontextprotocol.common.McpTransportContext;
import jakarta.servlet.http.HttpServletRequest;
import java.util.HashMap;
import java.util.Map;

/**
 * Who calls a tool: the HTTP request's {@code Authorization} header (passed on unchanged to every
 * FHIR request the tool makes) and, with security on, the token's {@code fhirUser}.
 */
public record McpCaller(String authorization, String fhirUser) {

  /** Request attribute where {@link McpAuthenticationFilter} leaves the validated token's fhirUser. */
  static final String FHIR_USER_ATTRIBUTE = McpCaller.class.getName() + ".fhirUser";
  private static final String AUTHORIZATION = "authorization";
  private static final String FHIR_USER = "fhirUser";

  /** Builds the transport context of one MCP HTTP request. */
  public static McpTransportContext extract(HttpServletRequest request) {
    Map<String, Object> values = new HashMap<>();
    String authorization = request.getHeader("Authorization");
    if (authorization != null) {
      values.put(AUTHORIZATION, authorization);
    }
    Object fhirUser = request.getAttribute(FHIR_USER_ATTRIBUTE);
    if (fhirUser != null) {
      values.put(FHIR_USER, fhirUser);
    }
    return McpTransportContext.create(values);
  }

  static McpCaller of(McpTransportContext context) {
    return new McpCaller((String) context.get(AUTHORIZATION), (String) context.get(FHIR_USER));
  }

  /** Whether the token names a Practitioner as its user ({@code Practitioner/x} or an absolute URL to one). */
  boolean isPractitioner() {
    return fhirUser != null && (fhirUser.startsWith("Practitioner/") || fhirUser.contains("/Practitioner/"));
  }
}
