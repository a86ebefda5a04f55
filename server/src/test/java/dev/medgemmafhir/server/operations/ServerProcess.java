package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.server.MedGemmaFhirApplication;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The real server in a child JVM (the test's own classpath, {@link MedGemmaFhirApplication#main}),
 * so a test can kill it the hard way ({@code SIGKILL}, as the kernel's OOM killer or a node loss
 * would) and start it again on the same database. Loopback only; its log goes to a file.
 */
final class ServerProcess implements AutoCloseable {

  private final Path workDir;
  private final List<String> arguments;
  private final int port;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private Process process;
  private int starts;

  /**
   * @param workDir the child's working directory (the default H2 database lands in {@code ./data} under it)
   * @param arguments Spring properties as {@code --name=value}
   */
  ServerProcess(Path workDir, List<String> arguments) throws IOException {
    this.workDir = workDir;
    this.arguments = List.copyOf(arguments);
    try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      this.port = socket.getLocalPort();
    }
  }

  String base() {
    return "http://127.0.0.1:" + port + "/fhir";
  }

  /** Starts the server and waits until {@code /readyz} answers 200 (the model loaded). */
  void start() throws Exception {
    String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    Path java = Paths.get(System.getProperty("java.home"), "bin", "java");
    List<String> command = new ArrayList<>(List.of(java.toString(), "-Xmx1g", "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1", "-cp", classpath, MedGemmaFhirApplication.class.getName(),
        "--server.port=" + port, "--server.address=127.0.0.1"));
    command.addAll(arguments);
    starts++;
    process = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log().toFile())).start();
    long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(10);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IllegalStateException("server exited with " + process.exitValue() + "; log tail:\n" + logTail());
      }
      try {
        if (http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/readyz"))
            .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // still starting
      }
      Thread.sleep(250);
    }
    throw new IllegalStateException("server not ready after 10 minutes; log tail:\n" + logTail());
  }

  /** SIGKILL: no shutdown hook, no graceful stop, nothing flushed that was not flushed already. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(1, TimeUnit.MINUTES);
  }

  int starts() {
    return starts;
  }

  Path log() {
    return workDir.resolve("server.log");
  }

  String logTail() {
    try {
      String text = Files.readString(log(), StandardCharsets.UTF_8);
      return text.substring(Math.max(0, text.length() - 6000));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  @Override
  public void close() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroy();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        kill();
      }
    }
  }
}
