package dev.medgemmafhir.engine.pull;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * Talks to a Hugging Face-compatible hub (the public hub, a mirror, or an internal proxy that
 * implements the same endpoints) with nothing but {@code java.net.http}.
 *
 * <p>Endpoints used: {@code GET /api/models/{repo}/revision/{rev}?blobs=true} for the file list
 * with sizes and LFS sha256, and {@code GET /{repo}/resolve/{commit}/{path}} for content, which on
 * the public hub redirects to a CDN on another host.
 */
public final class HubClient {
  private static final int MAX_REDIRECTS = 8;

  private final URI endpoint;
  private final String token;
  private final HttpClient http;
  private final ObjectMapper json = new ObjectMapper();

  /**
   * @param endpoint hub base URL, e.g. {@code https://huggingface.co}
   * @param token    access token sent as a Bearer token to the hub's own host, or null
   */
  public HubClient(URI endpoint, String token) {
    String base = endpoint.toString();
    this.endpoint = URI.create(base.endsWith("/") ? base : base + "/");
    this.token = token == null || token.isBlank() ? null : token.strip();
    // Redirects are followed by hand so the token is never forwarded to the CDN host.
    this.http = HttpClient.newBuilder()
        .followRedirects(HttpClient.Redirect.NEVER)
        .connectTimeout(Duration.ofSeconds(30))
        .build();
  }

  public URI endpoint() {
    return endpoint;
  }

  /** Resolves {@code revision} to a commit and lists every file of the repository at it. */
  public HubSnapshot snapshot(String repo, String revision) throws PullException {
    URI uri = endpoint.resolve("api/models/" + repoPath(repo) + "/revision/"
        + URLEncoder.encode(revision, StandardCharsets.UTF_8) + "?blobs=true");
    HttpResponse<byte[]> response;
    try {
      response = send(uri, null, HttpResponse.BodyHandlers.ofByteArray());
    } catch (IOException e) {
      throw new PullException("Cannot reach the hub at " + endpoint + ": " + e.getMessage(), e);
    }
    int status = response.statusCode();
    if (status != 200) {
      throw failure(status, repo, revision);
    }
    try {
      JsonNode root = json.readTree(response.body());
      String commit = root.path("sha").asText(null);
      if (commit == null || commit.isBlank()) {
        throw new PullException("The hub's answer for " + repo + "@" + revision + " names no commit");
      }
      List<HubFile> files = new ArrayList<>();
      for (JsonNode sibling : root.path("siblings")) {
        String path = sibling.path("rfilename").asText(null);
        if (path == null) {
          continue;
        }
        JsonNode lfs = sibling.path("lfs");
        long size = lfs.isObject() ? lfs.path("size").asLong(-1) : sibling.path("size").asLong(-1);
        String sha256 = lfs.isObject() ? lowerOrNull(lfs.path("sha256").asText(null)) : null;
        String blobId = lfs.isObject() ? null : lowerOrNull(sibling.path("blobId").asText(null));
        files.add(new HubFile(path, size, sha256, blobId));
      }
      return new HubSnapshot(repo, revision, commit, files);
    } catch (IOException e) {
      throw new PullException("The hub's file list for " + repo + " is not valid JSON", e);
    }
  }

  /**
   * Opens the content of one file, from byte {@code offset} on.
   *
   * @return the open body; {@link Download#partial()} says whether the server honoured the range
   *     (if not, the body starts at byte 0 and the caller must start over)
   */
  public Download open(HubSnapshot snapshot, HubFile file, long offset) throws PullException, IOException {
    URI uri = endpoint.resolve(repoPath(snapshot.repo()) + "/resolve/" + snapshot.commit() + "/"
        + encodePath(file.path()));
    String range = offset > 0 ? "bytes=" + offset + "-" : null;
    HttpResponse<InputStream> response = send(uri, range, HttpResponse.BodyHandlers.ofInputStream());
    int status = response.statusCode();
    if (status == 200 || status == 206) {
      return new Download(response.body(), status == 206,
          response.headers().firstValueAsLong("Content-Length").orElse(-1));
    }
    response.body().close();
    if (status == 416) {
      return Download.RANGE_NOT_SATISFIABLE;
    }
    if (status == 401 || status == 403 || status == 404) {
      throw failure(status, snapshot.repo(), snapshot.revision());
    }
    throw new IOException("HTTP " + status + " for " + file.path());
  }

  /** An open response body. */
  public record Download(InputStream body, boolean partial, long contentLength) {
    static final Download RANGE_NOT_SATISFIABLE = new Download(InputStream.nullInputStream(), false, -2);

    public boolean rangeNotSatisfiable() {
      return contentLength == -2;
    }
  }

  private <T> HttpResponse<T> send(URI uri, String range, HttpResponse.BodyHandler<T> handler)
      throws IOException {
    URI current = uri;
    for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
      HttpRequest.Builder request = HttpRequest.newBuilder(current).GET()
          .header("User-Agent", "medgemma-fhir-pull/1");
      if (token != null && sameOrigin(current, endpoint)) {
        request.header("Authorization", "Bearer " + token);
      }
      if (range != null) {
        request.header("Range", range);
      }
      HttpResponse<T> response;
      try {
        response = http.send(request.build(), handler);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
      int status = response.statusCode();
      if (status == 301 || status == 302 || status == 303 || status == 307 || status == 308) {
        String location = response.headers().firstValue("Location").orElse(null);
        closeQuietly(response.body());
        if (location == null) {
          throw new IOException("redirect without Location from " + current);
        }
        current = current.resolve(location);
        continue;
      }
      return response;
    }
    throw new IOException("too many redirects from " + uri);
  }

  private PullException failure(int status, String repo, String revision) {
    if (status == 401 || status == 403) {
      String page = endpoint + repo;
      String why = token == null
          ? "no HF_TOKEN was given"
          : "the token in HF_TOKEN was refused or its account has not been granted access";
      return new HubAccessDeniedException("Access to " + repo + " was denied (HTTP " + status + "): "
          + why + ". MedGemma and Gemma models are gated: sign in on " + page
          + ", accept the licence terms (Health AI Developer Foundations terms for MedGemma, the"
          + " Gemma terms of use for Gemma), then set HF_TOKEN to a read token of that account."
          + " (The public hub also answers 401 for a repository that does not exist: check the name.)",
          status);
    }
    if (status == 404) {
      return new PullException("Repository " + repo + " or revision '" + revision
          + "' not found on " + endpoint);
    }
    return new PullException("The hub answered HTTP " + status + " for " + repo + "@" + revision);
  }

  private static boolean sameOrigin(URI a, URI b) {
    return Objects.equals(lower(a.getScheme()), lower(b.getScheme()))
        && Objects.equals(lower(a.getHost()), lower(b.getHost()))
        && port(a) == port(b);
  }

  private static int port(URI uri) {
    if (uri.getPort() != -1) {
      return uri.getPort();
    }
    return "https".equalsIgnoreCase(uri.getScheme()) ? 443 : 80;
  }

  private static String lower(String s) {
    return s == null ? null : s.toLowerCase(Locale.ROOT);
  }

  private static String lowerOrNull(String s) {
    return s == null || s.isBlank() ? null : s.toLowerCase(Locale.ROOT);
  }

  /** "owner/name": each part encoded, the slash kept, as the hub's URLs expect. */
  static String repoPath(String repo) {
    return encodePath(repo);
  }

  static String encodePath(String path) {
    StringBuilder out = new StringBuilder();
    for (String segment : path.split("/", -1)) {
      if (out.length() > 0) {
        out.append('/');
      }
      out.append(URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20"));
    }
    return out.toString();
  }

  private static void closeQuietly(Object body) {
    if (body instanceof AutoCloseable closeable) {
      try {
        closeable.close();
      } catch (Exception ignored) {
        // the redirect's body is of no interest
      }
    }
  }
}
