package dev.medgemmafhir.server.wiring;

import dev.medgemmafhir.server.fhir.LoopbackFhir;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.springframework.boot.web.servlet.context.ServletWebServerInitializedEvent;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.event.EventListener;

/**
 * The server's own FHIR endpoint as a client, for the surfaces that must act with their caller's
 * rights (MCP tools, CDS Hooks services). It learns the port once the web server is up.
 */
@Configuration
public class LoopbackWiring {

  /** A synchronous AI operation on CPU can take minutes; a loopback call waits this long at most. */
  static final Duration TIMEOUT = Duration.ofMinutes(15);

  private final AtomicInteger port = new AtomicInteger();

  @EventListener
  public void webServerStarted(ServletWebServerInitializedEvent event) {
    port.set(event.getWebServer().getPort());
  }

  @Bean
  public LoopbackFhir loopbackFhir() {
    return new LoopbackFhir(() -> {
      int known = port.get();
      if (known <= 0) {
        throw new IllegalStateException("The web server has not started yet");
      }
      return known;
    }, TIMEOUT);
  }
}
