package dev.medgemmafhir.engine.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Imitates the parts of the Hugging Face hub a pull uses: the revision API with
 * {@code blobs=true}, {@code /resolve/} answering with a redirect, and a separate "CDN" server on
 * another port (another origin) that serves bytes with Range support. Faults can be injected per
 * file: a connection cut after some bytes, or content that does not match the advertised sha256.
 */
final class FakeHub implements AutoCloseable {
  static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

  record Request(String path, String authorization, String range) {}

  private final HttpServer api;
  private final HttpServer cdn;
  private final String repo;
  private final Map<String, byte[]> files = new LinkedHashMap<>();
  private final Set<String> lfs = ConcurrentHashMap.newKeySet();
  private final Map<String, Integer> cutAfter = new ConcurrentHashMap<>();
  private final Map<String, byte[]> servedInstead = new ConcurrentHashMap<>();
  private volatile String requiredToken;
  final List<Request> apiRequests = new CopyOnWriteArrayList<>();
  final List<Request> cdnRequests = new CopyOnWriteArrayList<>();
  final AtomicInteger cuts = new AtomicInteger();

  FakeHub(String repo) throws IOException {
    this.repo = repo;
    InetAddress loopback = InetAddress.getLoopbackAddress();
    api = HttpServer.create(new InetSocketAddress(loopback, 0), 0);
    cdn = HttpServer.create(new InetSocketAddress(loopback, 0), 0);
    api.createContext("/", this::handleApi);
    cdn.createContext("/", this::handleCdn);
    api.start();
    cdn.start();
  }

  URI endpoint() {
    return URI.create("http://" + api.getAddress().getHostString() + ":" + api.getAddress().getPort());
  }

  /** A small file kept in git (verified by its git blob id). */
  FakeHub gitFile(String path, String content) {
    files.put(path, content.getBytes(StandardCharsets.UTF_8));
    return this;
  }

  /** A large file stored with LFS (verified by sha256). */
  FakeHub lfsFile(String path, byte[] content) {
    files.put(path, content);
    lfs.add(path);
    return this;
  }

  /** The hub answers 401 unless this Bearer token is sent. */
  FakeHub gated(String token) {
    requiredToken = token;
    return this;
  }

  /** The next download of {@code path} from byte 0 goes silent after {@code bytes} bytes. */
  FakeHub cutOnce(String path, int bytes) {
    cutAfter.put(path, bytes);
    return this;
  }

  /** The CDN serves these bytes for {@code path} while the API advertises the real checksum. */
  FakeHub corrupt(String path, byte[] wrong) {
    servedInstead.put(path, wrong);
    return this;
  }

  byte[] content(String path) {
    return files.get(path);
  }

  private void handleApi(HttpExchange ex) throws IOException {
    String path = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8);
    apiRequests.add(new Request(path, ex.getRequestHeaders().getFirst("Authorization"), null));
    if (requiredToken != null
        && !("Bearer " + requiredToken).equals(ex.getRequestHeaders().getFirst("Authorization"))) {
      send(ex, 401, ("{\"error\":\"Access to model " + repo + " is restricted.\"}").getBytes(StandardCharsets.UTF_8));
      return;
    }
    String revisionPrefix = "/api/models/" + repo + "/revision/";
    String resolvePrefix = "/" + repo + "/resolve/" + COMMIT + "/";
    if (path.startsWith(revisionPrefix)) {
      send(ex, 200, listing());
    } else if (path.startsWith(resolvePrefix) && files.containsKey(path.substring(resolvePrefix.length()))) {
      String file = path.substring(resolvePrefix.length());
      // Like the public hub: content comes from another host, reached by redirect.
      ex.getResponseHeaders().add("Location", "http://" + cdn.getAddress().getHostString() + ":"
          + cdn.getAddress().getPort() + "/blobs/" + file);
      ex.sendResponseHeaders(302, -1);
      ex.close();
    } else {
      send(ex, 404, "{\"error\":\"not found\"}".getBytes(StandardCharsets.UTF_8));
    }
  }

  private void handleCdn(HttpExchange ex) throws IOException {
    String file = URLDecoder.decode(ex.getRequestURI().getRawPath(), StandardCharsets.UTF_8).substring("/blobs/".length());
    String range = ex.getRequestHeaders().getFirst("Range");
    cdnRequests.add(new Request(file, ex.getRequestHeaders().getFirst("Authorization"), range));
    byte[] body = servedInstead.getOrDefault(file, files.get(file));
    if (body == null) {
      send(ex, 404, new byte[0]);
      return;
    }
    int from = 0;
    if (range != null) {
      from = Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
      if (from >= body.length) {
        ex.getResponseHeaders().add("Content-Range", "bytes */" + body.length);
        ex.sendResponseHeaders(416, -1);
        ex.close();
        return;
      }
      ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
    }
    int status = range != null ? 206 : 200;
    int length = body.length - from;
    Integer cut = from == 0 ? cutAfter.remove(file) : null;
    ex.sendResponseHeaders(status, length);
    OutputStream out = ex.getResponseBody();
    if (cut != null) {
      out.write(body, 0, cut);
      out.flush();
      cuts.incrementAndGet();
      // Fewer bytes than Content-Length, then silence on a connection that stays open: what a
      // client sees when a network path dies mid-transfer without a reset. (This server library
      // keeps the connection; the client has to notice the stall by itself.)
      return;
    }
    out.write(body, from, length);
    out.close();
  }

  private byte[] listing() throws IOException {
    ObjectMapper json = new ObjectMapper();
    ObjectNode root = json.createObjectNode();
    root.put("id", repo);
    root.put("sha", COMMIT);
    ArrayNode siblings = root.putArray("siblings");
    for (Map.Entry<String, byte[]> e : files.entrySet()) {
      ObjectNode s = siblings.addObject();
      s.put("rfilename", e.getKey());
      byte[] content = e.getValue();
      if (lfs.contains(e.getKey())) {
        s.put("size", 134);
        s.put("blobId", "1111111111111111111111111111111111111111");
        ObjectNode l = s.putObject("lfs");
        l.put("sha256", hex("SHA-256", content, null));
        l.put("size", content.length);
        l.put("pointerSize", 134);
      } else {
        s.put("size", content.length);
        s.put("blobId", hex("SHA-1", content, ("blob " + content.length + "\0").getBytes(StandardCharsets.US_ASCII)));
      }
    }
    return json.writeValueAsBytes(root);
  }

  static String hex(String algorithm, byte[] content, byte[] header) {
    try {
      MessageDigest md = MessageDigest.getInstance(algorithm);
      if (header != null) {
        md.update(header);
      }
      return HexFormat.of().formatHex(md.digest(content));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    if (body.length > 0) {
      ex.getResponseBody().write(body);
    }
    ex.close();
  }

  @Override
  public void close() {
    api.stop(0);
    cdn.stop(0);
  }
}
