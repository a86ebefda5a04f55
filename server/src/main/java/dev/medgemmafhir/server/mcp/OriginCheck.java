package dev.medgemmafhir.server.mcp;

import io.modelcontextprotocol.server.transport.ServerTransportSecurityException;
import io.modelcontextprotocol.server.transport.ServerTransportSecurityValidator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * MCP's defence against DNS rebinding: a request a browser sends from a web page carries an
 * {@code Origin}, and only the configured origins are served. Agents and desktop clients send none.
 */
public final class OriginCheck implements ServerTransportSecurityValidator {

  private final Set<String> allowed;

  public OriginCheck(List<String> allowedOrigins) {
    this.allowed = Set.copyOf(allowedOrigins);
  }

  @Override
  public void validateHeaders(Map<String, List<String>> headers) throws ServerTransportSecurityException {
    for (Map.Entry<String, List<String>> header : headers.entrySet()) {
      if ("Origin".equalsIgnoreCase(header.getKey()) && header.getValue() != null) {
        for (String origin : header.getValue()) {
          if (!allowed.contains(origin)) {
            throw new ServerTransportSecurityException(403, "Origin not allowed: add it to medgemma.mcp.allowed-origins");
          }
        }
      }
    }
  }
}
