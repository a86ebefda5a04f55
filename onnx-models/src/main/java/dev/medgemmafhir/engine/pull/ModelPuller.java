package dev.medgemmafhir.engine.pull;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Pulls one variant of a model repository into a local model directory.
 *
 * <p>Guarantees the server relies on: the target directory either does not exist or holds every
 * file of the variant, each checked against the hub's checksum. Files are fetched into a
 * working folder beside the target ({@code .<name>.partial}, same file system) as
 * {@code *.part} files that later runs resume with HTTP Range requests, and the folder is renamed
 * to the target in one step at the end. A lock file beside the target serialises pods that share
 * one volume and start their pulls together.
 */
public final class ModelPuller {

  /** Written into a pulled directory; lets a later run (an init container) skip the pull. */
  public static final String MARKER = ".medgemma-pull.json";
  private static final String COMMIT_FILE = ".pull-commit";

  private final HubClient hub;
  private final PullProgress progress;
  private final int maxAttempts;
  private final Duration retryDelay;
  private Duration stallTimeout = Duration.ofSeconds(60);
  private final ObjectMapper json = new ObjectMapper();

  /** What a pull ended with. */
  public enum Outcome {
    /** Files were downloaded and the target directory created. */
    PULLED,
    /** The target already holds this repo/revision/variant from an earlier pull. */
    ALREADY_COMPLETE,
    /** The target exists but was not made by this tool (e.g. a self-exported model): untouched. */
    LEFT_UNTOUCHED
  }

  public record Result(Outcome outcome, Path directory, String commit, int files, long bytes) {}

  /**
   * @param maxAttempts tries per file before giving up (a dropped connection resumes, it does
   *                    not start over)
   * @param retryDelay  wait before the second try, growing linearly with each further try
   */
  public ModelPuller(HubClient hub, PullProgress progress, int maxAttempts, Duration retryDelay) {
    this.hub = Objects.requireNonNull(hub);
    this.progress = progress == null ? PullProgress.SILENT : progress;
    this.maxAttempts = Math.max(1, maxAttempts);
    this.retryDelay = retryDelay == null ? Duration.ZERO : retryDelay;
  }

  /** How long a download may deliver no bytes before it is dropped and resumed (default 60 s). */
  public ModelPuller stallTimeout(Duration timeout) {
    this.stallTimeout = Objects.requireNonNull(timeout);
    return this;
  }

  public Result pull(PullSpec spec) throws PullException, IOException {
    Path target = spec.target().toAbsolutePath().normalize();
    Path parent = target.getParent();
    if (parent == null) {
      throw new PullException("Cannot pull into a file-system root: " + target);
    }
    Files.createDirectories(parent);
    String name = target.getFileName().toString();
    Path lockFile = parent.resolve("." + name + ".pull.lock");
    try (FileChannel channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
         FileLock ignored = channel.lock()) {
      return pullLocked(spec, target, parent, name);
    }
  }

  private Result pullLocked(PullSpec spec, Path target, Path parent, String name)
      throws PullException, IOException {
    if (Files.exists(target) && !spec.force()) {
      Path marker = target.resolve(MARKER);
      if (!Files.isRegularFile(marker)) {
        progress.message(target + " exists and was not made by 'models pull'; leaving it as it is");
        return new Result(Outcome.LEFT_UNTOUCHED, target, null, 0, 0);
      }
      JsonNode m = json.readTree(marker.toFile());
      if (sameRequest(m, spec)) {
        progress.message(target + " already holds " + spec.repo() + "@" + m.path("commit").asText()
            + " (" + m.path("dtype").asText() + "); nothing to do");
        return new Result(Outcome.ALREADY_COMPLETE, target, m.path("commit").asText(), 0, 0);
      }
      throw new PullException(target + " holds another model (" + m.path("repo").asText() + "@"
          + m.path("revision").asText() + ", " + m.path("dtype").asText()
          + "); choose another directory or pass --force to replace it");
    }

    HubSnapshot snapshot = hub.snapshot(spec.repo(), spec.revision());
    VariantSelection.Result selection =
        VariantSelection.select(snapshot.files(), spec.dtype(), spec.subfolder(), spec.includes());

    Path work = parent.resolve("." + name + ".partial");
    prepareWorkDir(work, snapshot.commit());

    long total = selection.files().stream().mapToLong(s -> Math.max(0, s.file().size())).sum();
    progress.begin(selection.files().size(), total);
    for (VariantSelection.Selected selected : selection.files()) {
      fetch(snapshot, selected, work);
    }
    progress.end();

    writeMarker(work, spec, snapshot, selection);
    Files.deleteIfExists(work.resolve(COMMIT_FILE));
    publish(work, target, parent, name);
    return new Result(Outcome.PULLED, target, snapshot.commit(), selection.files().size(), total);
  }

  /** A working folder left by a run against another commit could hold other bytes: start clean. */
  private void prepareWorkDir(Path work, String commit) throws IOException {
    Path commitFile = work.resolve(COMMIT_FILE);
    if (Files.isDirectory(work)) {
      String previous = Files.isRegularFile(commitFile)
          ? Files.readString(commitFile, StandardCharsets.UTF_8).strip() : "";
      if (!previous.equals(commit)) {
        deleteRecursively(work);
      }
    }
    Files.createDirectories(work);
    Files.writeString(commitFile, commit, StandardCharsets.UTF_8);
  }

  private void fetch(HubSnapshot snapshot, VariantSelection.Selected selected, Path work)
      throws PullException, IOException {
    HubFile file = selected.file();
    Path dest = work.resolve(selected.localPath()).normalize();
    if (!dest.startsWith(work) || dest.equals(work)) {
      // A hostile or broken hub must not make us write outside the model directory.
      throw new PullException("Refusing a file path that leaves the model directory: " + file.path());
    }
    Files.createDirectories(dest.getParent());
    if (Files.isRegularFile(dest)) {
      // Completed (and verified) by an earlier, interrupted run; check again, it is cheap next to a download.
      if (verify(dest, file) == null) {
        progress.file(selected.localPath(), file.size(), file.size());
        progress.advance(Math.max(0, file.size()));
        return;
      }
      Files.delete(dest);
    }
    Path part = dest.resolveSibling(dest.getFileName() + ".part");
    download(snapshot, selected, part);
    String mismatch = verify(part, file);
    if (mismatch != null) {
      // Keeping the bytes would only make the next run resume onto a corrupt prefix.
      Files.deleteIfExists(part);
      throw new PullException("Checksum mismatch for " + file.path() + ": " + mismatch
          + ". The damaged download was deleted; run the pull again. If it fails again, the"
          + " mirror or proxy at " + hub.endpoint() + " is serving wrong content.");
    }
    move(part, dest);
  }

  private void download(HubSnapshot snapshot, VariantSelection.Selected selected, Path part)
      throws PullException, IOException {
    HubFile file = selected.file();
    IOException last = null;
    for (int attempt = 1; attempt <= maxAttempts; attempt++) {
      if (attempt > 1) {
        progress.message("retrying " + file.path() + " (attempt " + attempt + " of " + maxAttempts
            + ") after: " + last.getMessage());
        sleep(retryDelay.multipliedBy(attempt - 1));
      }
      long have = Files.exists(part) ? Files.size(part) : 0;
      if (file.size() >= 0 && have > file.size()) {
        Files.delete(part);
        have = 0;
      }
      try {
        HubClient.Download download = hub.open(snapshot, file, have);
        if (download.rangeNotSatisfiable()) {
          if (file.size() >= 0 && have == file.size()) {
            return; // the earlier run had every byte; only the rename was missing
          }
          Files.deleteIfExists(part);
          last = new IOException("server refused to resume at byte " + have);
          continue;
        }
        boolean append = have > 0 && download.partial();
        if (!append) {
          have = 0;
        }
        progress.file(selected.localPath(), file.size(), have);
        if (have > 0) {
          progress.advance(have);
        }
        try (InputStream in = download.body();
             StallGuard guard = new StallGuard(in, stallTimeout);
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                 append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
          byte[] buffer = new byte[1 << 16];
          int n;
          try {
            while ((n = in.read(buffer)) > 0) {
              guard.progressed();
              out.write(buffer, 0, n);
              progress.advance(n);
            }
          } catch (IOException e) {
            if (guard.fired()) {
              throw new IOException("no data for " + stallTimeout.toSeconds() + " s", e);
            }
            throw e;
          }
          if (guard.fired()) {
            throw new IOException("no data for " + stallTimeout.toSeconds() + " s");
          }
        }
        long size = Files.size(part);
        if (file.size() >= 0 && size < file.size()) {
          throw new IOException("connection ended at byte " + size + " of " + file.size());
        }
        return;
      } catch (IOException e) {
        last = e;
      }
    }
    throw new PullException("Downloading " + file.path() + " failed after " + maxAttempts
        + " attempts: " + last.getMessage() + ". Run the pull again to resume where it stopped.", last);
  }

  /** @return null if the file matches the hub's metadata, else what differs */
  static String verify(Path path, HubFile file) throws IOException {
    long size = Files.size(path);
    if (file.size() >= 0 && size != file.size()) {
      return "expected " + file.size() + " bytes, got " + size;
    }
    if (file.sha256() != null) {
      String actual = digest(path, "SHA-256", null);
      return actual.equals(file.sha256()) ? null : "expected sha256 " + file.sha256() + ", got " + actual;
    }
    if (file.gitBlobId() != null) {
      // Small files live in git, not LFS; the hub gives their git blob id, which covers content too.
      String actual = digest(path, "SHA-1", ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII));
      return actual.equals(file.gitBlobId()) ? null : "expected git blob " + file.gitBlobId() + ", got " + actual;
    }
    return null;
  }

  static String digest(Path path, String algorithm, byte[] header) throws IOException {
    MessageDigest md;
    try {
      md = MessageDigest.getInstance(algorithm);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    if (header != null) {
      md.update(header);
    }
    try (InputStream in = Files.newInputStream(path)) {
      byte[] buffer = new byte[1 << 16];
      int n;
      while ((n = in.read(buffer)) > 0) {
        md.update(buffer, 0, n);
      }
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private boolean sameRequest(JsonNode marker, PullSpec spec) {
    return spec.repo().equals(marker.path("repo").asText())
        && spec.revision().equals(marker.path("revision").asText())
        && normalisedDtype(spec.dtype()).equals(marker.path("dtype").asText())
        && Objects.toString(spec.subfolder(), "").equals(marker.path("subfolder").asText(""));
  }

  private static String normalisedDtype(String dtype) {
    return dtype == null ? "q4" : dtype.toLowerCase(java.util.Locale.ROOT);
  }

  private void writeMarker(Path work, PullSpec spec, HubSnapshot snapshot, VariantSelection.Result selection)
      throws IOException {
    ObjectNode root = json.createObjectNode();
    root.put("repo", spec.repo());
    root.put("revision", spec.revision());
    root.put("commit", snapshot.commit());
    root.put("dtype", normalisedDtype(spec.dtype()));
    root.put("subfolder", Objects.toString(spec.subfolder(), ""));
    root.put("layout", selection.layout());
    root.put("endpoint", hub.endpoint().toString());
    ArrayNode files = root.putArray("files");
    for (VariantSelection.Selected s : selection.files()) {
      ObjectNode f = files.addObject();
      f.put("path", s.localPath());
      f.put("size", s.file().size());
      if (s.file().sha256() != null) {
        f.put("sha256", s.file().sha256());
      }
    }
    json.writerWithDefaultPrettyPrinter().writeValue(work.resolve(MARKER).toFile(), root);
  }

  /** Makes the finished folder visible under its real name in one rename. */
  private void publish(Path work, Path target, Path parent, String name) throws IOException {
    if (Files.exists(target)) {
      // --force: the old directory stays whole until the new one is in place.
      Path old = parent.resolve("." + name + ".replaced");
      deleteRecursively(old);
      move(target, old);
      move(work, target);
      deleteRecursively(old);
    } else {
      move(work, target);
    }
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      // Same folder, so this only happens on exotic file systems; a plain rename is the best left.
      Files.move(from, to);
    }
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  private static void sleep(Duration d) throws IOException {
    if (d.isZero() || d.isNegative()) {
      return;
    }
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while waiting to retry", e);
    }
  }
}
