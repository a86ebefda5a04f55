package dev.medgemmafhir.server.cdshooks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import jakarta.servlet.http.HttpServletRequest;
import java.net.URI;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.http.MediaType;
import org.springframework.web.servlet.function.RouterFunction;
import org.springframework.web.servlet.function.RouterFunctions;
import org.springframework.web.servlet.function.ServerRequest;
import org.springframework.web.servlet.function.ServerResponse;

/**
 * CDS Hooks 2.0 over HTTP at {@code /cds-services}: discovery is open; a service call needs the
 * EHR's JWT (when {@code verifier} is set, i.e. with security on). Served as Spring MVC functional
 * routes ({@link #routes()}), so nothing here is picked up unless the wiring asks for it.
 */
public class CdsHooksController {

  /** Path of the discovery endpoint. */
  public static final String PATH = "/cds-services";
  private static final Logger LOG = LoggerFactory.getLogger(CdsHooksController.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final CdsServices services;
  private final EhrJwtVerifier verifier;
  private final String baseUrl;
  private final String reviewUrl;

  /**
   * @param verifier null = no JWT is required (security off)
   * @param baseUrl the public URL of {@code /cds-services}; empty = from each request
   * @param reviewUrl the review app, absolute or relative to {@code baseUrl}
   */
  public CdsHooksController(CdsServices services, EhrJwtVerifier verifier, String baseUrl, String reviewUrl) {
    this.services = services;
    this.verifier = verifier;
    this.baseUrl = baseUrl == null ? "" : baseUrl.strip().replaceAll("/+$", "");
    this.reviewUrl = reviewUrl;
  }

  public RouterFunction<ServerResponse> routes() {
    return RouterFunctions.route()
        .GET(PATH, request -> respond(200, services.discovery()))
        .POST(PATH + "/{service}", request -> call(request.pathVariable("service"), body(request),
            request.servletRequest()))
        .build();
  }

  private static String body(ServerRequest request) {
    try {
      return request.body(String.class);
    } catch (Exception e) {
      return null;
    }
  }

  ServerResponse call(String service, String body, HttpServletRequest http) {
    if (CdsServices.hookOf(service).isEmpty()) {
      return error(404, "No CDS service " + service + " here; see GET " + PATH);
    }
    String base = base(http);
    if (verifier != null) {
      try {
        verifier.verify(http.getHeader("Authorization"), base + "/" + service);
      } catch (EhrJwtVerifier.Refused e) {
        LOG.info("CDS Hooks call to {} refused: {}", service, e.getMessage());
        return ServerResponse.status(401).header("WWW-Authenticate", "Bearer").contentType(MediaType.APPLICATION_JSON)
            .body(message(e.getMessage()));
      }
    }
    JsonNode request;
    try {
      request = body == null || body.isBlank() ? null : JSON.readTree(body);
    } catch (Exception e) {
      request = null;
    }
    if (request == null || !request.isObject()) {
      return error(400, "The body must be a CDS Hooks request (JSON object)");
    }
    try {
      return respond(200, services.call(service, request, URI.create(base + "/").resolve(reviewUrl)));
    } catch (CdsServices.Failure e) {
      return error(e.status, e.getMessage());
    }
  }

  private String base(HttpServletRequest http) {
    if (!baseUrl.isEmpty()) {
      return baseUrl;
    }
    String url = http.getRequestURL().toString();
    return url.substring(0, url.indexOf(PATH) + PATH.length());
  }

  private static ServerResponse error(int status, String message) {
    return respond(status, message(message));
  }

  private static ServerResponse respond(int status, JsonNode body) {
    return ServerResponse.status(status).contentType(MediaType.APPLICATION_JSON).body(body);
  }

  private static JsonNode message(String message) {
    return JSON.createObjectNode().put("error", message);
  }
}
