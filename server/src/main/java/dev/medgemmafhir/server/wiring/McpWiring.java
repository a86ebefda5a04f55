package dev.medgemmafhir.server.wiring;

import ca.uhn.fhir.context.FhirContext;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.interceptors.smart.AccessTokenValidator;
import dev.medgemmafhir.server.fhir.LoopbackFhir;
import dev.medgemmafhir.server.mcp.FhirTools;
import dev.medgemmafhir.server.mcp.McpAuthenticationFilter;
import dev.medgemmafhir.server.mcp.McpCaller;
import dev.medgemmafhir.server.mcp.OriginCheck;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.jackson2.JacksonMcpJsonMapper;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.HttpServletStreamableServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import java.util.List;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The MCP server at {@code /mcp} (the MCP Java SDK's Streamable HTTP servlet transport), on with
 * {@code medgemma.mcp.enabled=true} (the default). Its tools act through {@link LoopbackFhir} with
 * the caller's token, so they have exactly the caller's rights.
 */
@Configuration
@ConditionalOnProperty(name = "medgemma.mcp.enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(McpWiring.McpProperties.class)
public class McpWiring {

  /** Path of the MCP endpoint. */
  public static final String PATH = "/mcp";

  /**
   * {@code medgemma.mcp.*}; every property is listed with its default in the README.
   *
   * @param enabled serve {@code /mcp}
   * @param allowedOrigins browser origins allowed to call {@code /mcp}; requests without an
   *     {@code Origin} (agents, desktop clients) are always served
   */
  @ConfigurationProperties("medgemma.mcp")
  public record McpProperties(Boolean enabled, List<String> allowedOrigins) {
    public McpProperties {
      enabled = enabled == null || enabled;
      allowedOrigins = allowedOrigins == null ? List.of() : List.copyOf(allowedOrigins);
    }
  }

  @Bean
  public HttpServletStreamableServerTransportProvider mcpTransport(McpProperties properties) {
    return HttpServletStreamableServerTransportProvider.builder()
        .jsonMapper(mcpJsonMapper())
        .mcpEndpoint(PATH)
        .contextExtractor(McpCaller::extract)
        .securityValidator(new OriginCheck(properties.allowedOrigins()))
        .build();
  }

  @Bean(destroyMethod = "closeGracefully")
  public McpSyncServer mcpServer(HttpServletStreamableServerTransportProvider transport, LoopbackFhir loopback,
      FhirContext fhirContext, SecurityWiring.SecurityProperties security) {
    FhirTools tools = new FhirTools(loopback, fhirContext, mcpJsonMapper(), security.enabled());
    return McpServer.sync(transport)
        .serverInfo("medgemma-fhir", String.valueOf(McpWiring.class.getPackage().getImplementationVersion()))
        .instructions("FHIR R4 server with MedGemma drafting. Every tool acts with your access token's rights;"
            + " everything the model writes is labelled AI-generated and stays a draft until a clinician verifies it.")
        .capabilities(McpSchema.ServerCapabilities.builder().tools(false).build())
        .jsonMapper(mcpJsonMapper())
        .tools(tools.all())
        .build();
  }

  @Bean
  public ServletRegistrationBean<HttpServletStreamableServerTransportProvider> mcpServlet(
      HttpServletStreamableServerTransportProvider transport) {
    ServletRegistrationBean<HttpServletStreamableServerTransportProvider> registration =
        new ServletRegistrationBean<>(transport, PATH);
    registration.setName("mcp");
    registration.setAsyncSupported(true);
    return registration;
  }

  /** With security on, {@code /mcp} needs a valid access token before any MCP message is read. */
  @Bean
  @ConditionalOnProperty(name = "medgemma.security.enabled", havingValue = "true")
  public FilterRegistrationBean<McpAuthenticationFilter> mcpAuthentication(AccessTokenValidator accessTokens) {
    FilterRegistrationBean<McpAuthenticationFilter> registration = new FilterRegistrationBean<>(
        new McpAuthenticationFilter(accessTokens));
    registration.addUrlPatterns(PATH, PATH + "/*");
    registration.setName("mcpAuthentication");
    return registration;
  }

  private static McpJsonMapper mcpJsonMapper() {
    return new JacksonMcpJsonMapper(new ObjectMapper());
  }
}
