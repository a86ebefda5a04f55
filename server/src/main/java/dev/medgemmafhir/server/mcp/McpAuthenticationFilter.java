package dev.medgemmafhir.server.mcp;

import dev.medgemmafhir.interceptors.smart.AccessTokenValidator;
import dev.medgemmafhir.interceptors.smart.InvalidTokenException;
import dev.medgemmafhir.interceptors.smart.SmartPrincipal;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * With security on, {@code /mcp} answers 401 to a request without a valid SMART access token before
 * any MCP message is read. Scopes are not checked here: each tool's FHIR requests carry the same
 * token and are checked by the FHIR endpoint itself.
 */
public final class McpAuthenticationFilter extends OncePerRequestFilter {

  private final AccessTokenValidator validator;

  public McpAuthenticationFilter(AccessTokenValidator validator) {
    this.validator = validator;
  }

  @Override
  protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    String header = request.getHeader("Authorization");
    if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      unauthorized(response, "An access token is required: Authorization: Bearer <token>");
      return;
    }
    SmartPrincipal principal;
    try {
      principal = validator.validate(header.substring(7).strip());
    } catch (InvalidTokenException e) {
      unauthorized(response, "The access token was refused: " + e.getMessage());
      return;
    }
    if (principal.fhirUser() != null) {
      request.setAttribute(McpCaller.FHIR_USER_ATTRIBUTE, principal.fhirUser());
    }
    chain.doFilter(request, response);
  }

  private static void unauthorized(HttpServletResponse response, String message) throws IOException {
    response.setStatus(401);
    response.setHeader("WWW-Authenticate", "Bearer");
    response.setContentType("application/json");
    byte[] body = ("{\"error\":\"invalid_token\",\"error_description\":\"" + message.replace("\\", "\\\\")
        .replace("\"", "\\\"") + "\"}").getBytes(StandardCharsets.UTF_8);
    response.getOutputStream().write(body);
  }
}
