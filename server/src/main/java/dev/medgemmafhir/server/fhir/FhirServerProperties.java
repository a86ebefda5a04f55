package dev.medgemmafhir.server.fhir;

import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * Settings of the FHIR endpoint itself ({@code medgemma.fhir.*}). Every property is listed
 * with its default in the README.
 *
 * @param serverAddress the public base URL written into links and {@code Location} headers
 *     (for example {@code https://fhir.example.org/fhir}); empty means "derive it from the
 *     incoming request", which is right unless a proxy rewrites the host
 * @param defaultPageSize search page size when the client gives no {@code _count}
 * @param maxPageSize the largest {@code _count} honoured
 * @param allowExternalReferences whether resources may reference absolute URLs on other servers
 * @param maxRequestSize the largest request body accepted (inline {@code $draft-report} images
 *     count, base64-encoded); larger bodies are a 413
 * @param corsAllowedOrigins web page origins of browser-based SMART apps allowed to call
 *     {@code /fhir} (CORS); empty = no CORS headers
 */
@ConfigurationProperties(prefix = "medgemma.fhir")
public record FhirServerProperties(
    String serverAddress,
    Integer defaultPageSize,
    Integer maxPageSize,
    Boolean allowExternalReferences,
    DataSize maxRequestSize,
    List<String> corsAllowedOrigins) {

  public FhirServerProperties {
    serverAddress = serverAddress == null ? "" : serverAddress.strip();
    defaultPageSize = defaultPageSize == null ? 20 : defaultPageSize;
    maxPageSize = maxPageSize == null ? 200 : maxPageSize;
    allowExternalReferences = allowExternalReferences == null || allowExternalReferences;
    maxRequestSize = maxRequestSize == null ? DataSize.ofMegabytes(16) : maxRequestSize;
    corsAllowedOrigins = BrowserOrigins.parse(corsAllowedOrigins, "medgemma.fhir.cors-allowed-origins");
    if (defaultPageSize < 1 || maxPageSize < defaultPageSize) {
      throw new IllegalArgumentException(
          "medgemma.fhir.default-page-size must be >= 1 and <= medgemma.fhir.max-page-size");
    }
  }
}
