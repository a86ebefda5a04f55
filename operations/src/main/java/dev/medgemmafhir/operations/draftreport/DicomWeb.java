package dev.medgemmafhir.operations.draftreport;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.operations.OperationErrors;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A small DICOMweb client: QIDO-RS lists of a study's series and a series' instances, and WADO-RS
 * {@code rendered} images. Every failure of the PACS (unreachable, timeout, an error status, a body
 * that is not what was asked for) is a 502 naming the URL; bodies are never logged or echoed.
 */
public final class DicomWeb {

  private static final Logger log = LoggerFactory.getLogger(DicomWeb.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  static final String SOP_INSTANCE_UID = "00080018";
  static final String MODALITY = "00080060";
  static final String SERIES_INSTANCE_UID = "0020000E";
  static final String SERIES_NUMBER = "00200011";
  static final String INSTANCE_NUMBER = "00200013";

  /**
   * @param connectTimeout time to open a connection to the PACS
   * @param timeout time for one request, from sending to the whole body
   * @param maxImageBytes largest rendered image accepted
   * @param authorization value of the {@code Authorization} header sent to allowed addresses; empty for none
   * @param allowedAddresses base URLs (prefixes) the server may call; empty = none (an Endpoint anyone may
   *     create must not make the server call into the hospital network)
   */
  public record Settings(Duration connectTimeout, Duration timeout, long maxImageBytes, String authorization,
      List<String> allowedAddresses) {
    public Settings {
      authorization = authorization == null ? "" : authorization.strip();
      allowedAddresses = allowedAddresses == null ? List.of()
          : allowedAddresses.stream().map(String::strip).filter(a -> !a.isEmpty()).toList();
      if (!authorization.isEmpty() && allowedAddresses.isEmpty()) {
        // Endpoints are data any client may write: a credential must only go to addresses the operator named.
        throw new IllegalArgumentException(
            "dicomweb.authorization is set, so dicomweb.allowed-addresses must name the PACS it may be sent to");
      }
      if (maxImageBytes < 1) {
        throw new IllegalArgumentException("dicomweb.max-image-size must be positive");
      }
    }

    public static Settings defaults() {
      return new Settings(Duration.ofSeconds(5), Duration.ofSeconds(30), 32L << 20, "", List.of());
    }
  }

  /** A series as QIDO-RS lists it. */
  public record SeriesListing(String seriesUid, String modality, Integer number) {}

  /** An instance as QIDO-RS lists it. */
  public record InstanceListing(String sopInstanceUid, Integer number) {}

  /** A rendered image and the media type the PACS sent. */
  public record Rendered(byte[] bytes, String mediaType) {}

  private final Settings settings;
  private final HttpClient http;

  public DicomWeb(Settings settings) {
    this.settings = settings;
    this.http = HttpClient.newBuilder().connectTimeout(settings.connectTimeout())
        .followRedirects(HttpClient.Redirect.NEVER).build();
  }

  /** Whether the server may call {@code address} (an Endpoint's address, already normalised). */
  public boolean allows(String address) {
    String lower = address.toLowerCase(Locale.ROOT);
    if (!lower.startsWith("http://") && !lower.startsWith("https://")) {
      return false;
    }
    return settings.allowedAddresses().stream().anyMatch(prefix -> matchesPrefix(address, prefix));
  }

  private static boolean matchesPrefix(String address, String prefix) {
    String p = prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
    return address.equals(p) || address.startsWith(p + "/");
  }

  /** QIDO-RS {@code {address}/studies/{study}/series}. */
  public List<SeriesListing> listSeries(String address, String studyUid) {
    String url = address + "/studies/" + studyUid + "/series";
    List<SeriesListing> series = new ArrayList<>();
    for (JsonNode item : query(url)) {
      text(item, SERIES_INSTANCE_UID).ifPresent(uid ->
          series.add(new SeriesListing(uid, text(item, MODALITY).orElse(null), integer(item, SERIES_NUMBER))));
    }
    return series;
  }

  /** QIDO-RS {@code {address}/studies/{study}/series/{series}/instances}. */
  public List<InstanceListing> listInstances(String address, String studyUid, String seriesUid) {
    String url = address + "/studies/" + studyUid + "/series/" + seriesUid + "/instances";
    List<InstanceListing> instances = new ArrayList<>();
    for (JsonNode item : query(url)) {
      text(item, SOP_INSTANCE_UID).ifPresent(uid -> instances.add(new InstanceListing(uid, integer(item, INSTANCE_NUMBER))));
    }
    return instances;
  }

  /** The PACS does not have one instance the study lists: the report may still be drafted from the others. */
  public static final class InstanceMissing extends OperationErrors.UpstreamFailed {
    InstanceMissing(String message) {
      super(message);
    }
  }

  /** WADO-RS {@code .../instances/{sop}/rendered}, asked for as PNG (a JPEG answer is accepted too). */
  public Rendered rendered(String address, String studyUid, String seriesUid, String sopInstanceUid) {
    String url = address + "/studies/" + studyUid + "/series/" + seriesUid + "/instances/" + sopInstanceUid + "/rendered";
    HttpResponse<InputStream> response = send(url, "image/png");
    try (InputStream body = response.body()) {
      if (response.statusCode() == 404) {
        throw new InstanceMissing("The PACS failed: GET " + url + ": HTTP 404, no such instance");
      }
      if (response.statusCode() != 200) {
        throw failed(url, "HTTP " + response.statusCode());
      }
      byte[] bytes = body.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, settings.maxImageBytes() + 1));
      if (bytes.length > settings.maxImageBytes()) {
        throw failed(url, "the image is larger than " + settings.maxImageBytes() + " bytes");
      }
      Optional<String> sniffed = ImageFormat.sniff(bytes);
      if (sniffed.isEmpty()) {
        String type = response.headers().firstValue("Content-Type").orElse("no Content-Type");
        throw failed(url, "the body is not a PNG or JPEG image (" + type + ", " + bytes.length + " bytes)");
      }
      return new Rendered(bytes, sniffed.get());
    } catch (IOException e) {
      throw failed(url, "reading the body failed (" + e.getClass().getSimpleName() + ")");
    }
  }

  private List<JsonNode> query(String url) {
    HttpResponse<InputStream> response = send(url, "application/dicom+json");
    try (InputStream body = response.body()) {
      if (response.statusCode() == 204) {
        // QIDO-RS answers an empty match with 204.
        return List.of();
      }
      if (response.statusCode() == 404) {
        // The study or series the record names is missing on the PACS (or the address is wrong): a PACS problem.
        throw failed(url, "HTTP 404, the PACS does not know this study or series");
      }
      if (response.statusCode() != 200) {
        throw failed(url, "HTTP " + response.statusCode());
      }
      JsonNode root = JSON.readTree(body);
      if (root == null || root.isMissingNode()) {
        return List.of();
      }
      if (!root.isArray()) {
        throw failed(url, "the body is not a DICOM JSON array");
      }
      List<JsonNode> items = new ArrayList<>();
      root.forEach(items::add);
      return items;
    } catch (IOException e) {
      throw failed(url, "the body is not DICOM JSON (" + e.getClass().getSimpleName() + ")");
    }
  }

  private HttpResponse<InputStream> send(String url, String accept) {
    HttpRequest.Builder request;
    try {
      request = HttpRequest.newBuilder(URI.create(url)).timeout(settings.timeout()).header("Accept", accept).GET();
    } catch (IllegalArgumentException e) {
      throw failed(url, "not a valid URL");
    }
    if (!settings.authorization().isEmpty()) {
      request.header("Authorization", settings.authorization());
    }
    long start = System.nanoTime();
    try {
      HttpResponse<InputStream> response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
      log.debug("PACS GET {} -> {} in {} ms", url, response.statusCode(), (System.nanoTime() - start) / 1_000_000);
      return response;
    } catch (HttpTimeoutException e) {
      throw failed(url, "no answer within " + settings.timeout().toMillis() + " ms");
    } catch (ConnectException e) {
      throw failed(url, "connection failed (" + e.getClass().getSimpleName() + ")");
    } catch (IOException e) {
      throw failed(url, "the request failed (" + e.getClass().getSimpleName() + ")");
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failed(url, "interrupted");
    }
  }

  private static OperationErrors.UpstreamFailed failed(String url, String why) {
    log.warn("PACS request failed: GET {}: {}", url, why);
    return new OperationErrors.UpstreamFailed("The PACS failed: GET " + url + ": " + why);
  }

  private static Optional<String> text(JsonNode item, String tag) {
    JsonNode value = item.path(tag).path("Value").path(0);
    return value.isMissingNode() || value.isNull() || value.asText().isBlank()
        ? Optional.empty() : Optional.of(value.asText().strip());
  }

  private static Integer integer(JsonNode item, String tag) {
    // IS values are JSON numbers in PS3.18 but some servers send strings.
    Optional<String> value = text(item, tag);
    if (value.isEmpty()) {
      return null;
    }
    try {
      return Integer.valueOf(value.get());
    } catch (NumberFormatException e) {
      return null;
    }
  }
}
