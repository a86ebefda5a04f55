package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import org.hl7.fhir.r4.model.BooleanType;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Parameters;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.StringType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code Accept: text/event-stream} on the AI operations, read with a real HTTP client: token events as
 * the text is generated, then the result; a failure mid-way is an error event; a client that closes
 * the connection cancels the generation and nothing is written.
 */
class StreamingTest extends AiOperationsServer {

  String patient;
  String encounter;

  @BeforeAll
  void aRecord() {
    patient = client.create().resource(new Patient()).execute().getId().toUnqualifiedVersionless().getValue();
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
    e.getClass_().setCode("AMB");
    encounter = client.create().resource(e).execute().getId().toUnqualifiedVersionless().getValue();
    Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setSubject(new Reference(patient))
        .setEncounter(new Reference(encounter));
    o.getCode().setText("Heart rate");
    o.setValue(new org.hl7.fhir.r4.model.Quantity(72).setUnit("/min"));
    client.create().resource(o).execute();
  }

  /** Writes {@code pieces} one by one, {@code pause} apart; stops when cancelled, or fails after {@code failAfter} pieces. */
  static class PacedEngine implements Engine {
    final String name;
    final List<String> pieces;
    final Duration pause;
    final int failAfter;
    final AtomicBoolean sawCancellation = new AtomicBoolean();
    final CountDownLatch ended = new CountDownLatch(1);

    PacedEngine(String name, List<String> pieces, Duration pause, int failAfter) {
      this.name = name;
      this.pieces = pieces;
      this.pause = pause;
      this.failAfter = failAfter;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      try {
        StringBuilder text = new StringBuilder();
        int n = 0;
        for (String piece : pieces) {
          if (cancellation.isCancelled()) {
            sawCancellation.set(true);
            return new GenerationResult(text.toString(), new int[3], new int[n], StopReason.CANCELLED, 1, 1, "CPU");
          }
          if (n == failAfter) {
            throw new EngineException("ONNX Runtime failed in the decoder");
          }
          listener.onText(piece);
          text.append(piece);
          n++;
          Thread.sleep(pause.toMillis());
        }
        return new GenerationResult(text.toString(), new int[3], new int[n], StopReason.END_OF_SEQUENCE, 1, 1, "CPU");
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new EngineException("interrupted");
      } finally {
        ended.countDown();
      }
    }

    @Override
    public int countTokens(String text) {
      return (text.length() + 3) / 4;
    }

    @Override
    public int countPromptTokens(GenerationRequest request) {
      return request.messages().stream().flatMap(m -> m.parts().stream())
          .mapToInt(p -> p instanceof dev.medgemmafhir.engine.ContentPart.Text t ? countTokens(t.text()) : 100).sum();
    }

    @Override
    public int contextLength() {
      return 4096;
    }

    @Override
    public ModelIdentity identity() {
      return new ModelIdentity("scripted/" + name, "scripted", "none", Optional.empty(), () -> "sha256:" + name);
    }

    @Override
    public void close() {}
  }

  record Event(String name, String data) {}

  HttpResponse<InputStream> open(String path, Parameters parameters) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(base() + path)).timeout(Duration.ofMinutes(2))
        .header("Content-Type", "application/fhir+json").header("Accept", "text/event-stream")
        .POST(HttpRequest.BodyPublishers.ofString(FHIR.newJsonParser().encodeResourceToString(parameters))).build(),
        HttpResponse.BodyHandlers.ofInputStream());
  }

  static List<Event> readAll(InputStream body) throws Exception {
    List<Event> events = new ArrayList<>();
    try (BufferedReader reader = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
      Event next;
      while ((next = read(reader)) != null) {
        events.add(next);
      }
    }
    return events;
  }

  static Event read(BufferedReader reader) throws Exception {
    String name = null;
    StringBuilder data = new StringBuilder();
    String line;
    while ((line = reader.readLine()) != null) {
      if (line.isEmpty()) {
        if (name != null) {
          return new Event(name, data.toString());
        }
        continue;
      }
      if (line.startsWith("event: ")) {
        name = line.substring(7);
      } else if (line.startsWith("data: ")) {
        data.append(line.substring(6));
      }
    }
    return null;
  }

  @Test
  void askStreamsTokensThenTheAnswer() throws Exception {
    PacedEngine engine = new PacedEngine("stream-ask", List.of("Heart ", "rate ", "72 ", "[C1]."), Duration.ZERO, -1);
    String model = register("stream-ask", engine);
    Parameters parameters = AskOperationTest.ask("What is the heart rate?", "model", new StringType(model));
    HttpResponse<InputStream> response = open("/" + patient + "/$ask", parameters);
    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("Content-Type")).hasValueSatisfying(v -> assertThat(v)
        .startsWith("text/event-stream"));
    List<Event> events = readAll(response.body());
    assertThat(events).extracting(Event::name).containsExactly("token", "token", "token", "token", "result");
    assertThat(events.get(0).data()).isEqualTo("{\"text\":\"Heart \"}");
    Parameters answer = FHIR.newJsonParser().parseResource(Parameters.class, events.get(4).data());
    assertThat(answer.getParameter("answer").getValue().primitiveValue()).isEqualTo("Heart rate 72 [C1].");
    assertThat(AskOperationTest.citations(answer)).hasSize(1);
  }

  @Test
  void summarizeStreamsTokensThenTheStoredDraft() throws Exception {
    String model = register("stream-summary", new PacedEngine("stream-summary", List.of("- Stable", " [C1]"),
        Duration.ZERO, -1));
    HttpResponse<InputStream> response = open("/" + encounter + "/$summarize",
        SummarizeOperationTest.params("model", "valueString", model));
    List<Event> events = readAll(response.body());
    assertThat(events).extracting(Event::name).containsExactly("token", "token", "result");
    DocumentReference draft = FHIR.newJsonParser().parseResource(DocumentReference.class, events.get(2).data());
    assertThat(draft.getIdElement().getIdPart()).isNotBlank();
    assertThat(client.read().resource(DocumentReference.class).withId(draft.getIdElement().getIdPart()).execute()
        .getDocStatus()).isEqualTo(DocumentReference.ReferredDocumentStatus.PRELIMINARY);
  }

  @Test
  void aFailureMidStreamIsAnErrorEventAndWritesNothing() throws Exception {
    String model = register("stream-fail", new PacedEngine("stream-fail", List.of("a", "b", "c"), Duration.ZERO, 2));
    Map<String, Integer> before = written();
    HttpResponse<InputStream> response = open("/" + patient + "/$ask", AskOperationTest.ask("Heart rate?",
        "model", new StringType(model), "persist", new BooleanType(true)));
    List<Event> events = readAll(response.body());
    assertThat(events).extracting(Event::name).containsExactly("token", "token", "error");
    OperationOutcome outcome = FHIR.newJsonParser().parseResource(OperationOutcome.class, events.get(2).data());
    assertThat(outcome.getIssueFirstRep().getDiagnostics()).contains("Generation failed", "HTTP 500");
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aBadRequestIsAnOrdinaryErrorBeforeAnyStream() throws Exception {
    HttpResponse<InputStream> response = open("/" + patient + "/$ask", new Parameters());
    assertThat(response.statusCode()).isEqualTo(400);
    String body = new String(response.body().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(FHIR.newJsonParser().parseResource(OperationOutcome.class, body).getIssueFirstRep().getDiagnostics())
        .contains("question");
  }

  @Test
  void closingTheConnectionCancelsTheGenerationAndWritesNothing() throws Exception {
    List<String> many = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      many.add("word" + i + " ");
    }
    PacedEngine engine = new PacedEngine("stream-cancel", many, Duration.ofMillis(25), -1);
    String model = register("stream-cancel", engine);
    Map<String, Integer> before = written();
    HttpResponse<InputStream> response = open("/" + patient + "/$ask", AskOperationTest.ask("Heart rate?",
        "model", new StringType(model), "persist", new BooleanType(true)));
    BufferedReader reader = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8));
    assertThat(read(reader).name()).isEqualTo("token");
    response.body().close();

    assertThat(engine.ended.await(30, TimeUnit.SECONDS)).as("the generation ended early").isTrue();
    assertThat(engine.sawCancellation).as("the engine was told to stop").isTrue();
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("stream-cancel")).isZero();
  }

  /**
   * Reads a long prompt (it never writes text) until it is cancelled, at most a minute; counts its
   * calls and says whether it was stopped before it wrote anything.
   */
  static final class SlowPrefillEngine extends PacedEngine {
    final CountDownLatch prefilling = new CountDownLatch(1);
    final CountDownLatch stoppedBeforeText = new CountDownLatch(1);
    /** Closed, the first call holds the model (its slot) until the test opens it. */
    final CountDownLatch firstCallHolds;
    final java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();

    SlowPrefillEngine(String name, CountDownLatch firstCallHolds) {
      super(name, List.of("late text"), Duration.ZERO, -1);
      this.firstCallHolds = firstCallHolds;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      if (calls.incrementAndGet() == 1 && firstCallHolds != null) {
        try {
          firstCallHolds.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return super.generate(request, listener, cancellation);
      }
      prefilling.countDown();
      long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      while (System.nanoTime() < until) {
        if (cancellation.isCancelled()) {
          stoppedBeforeText.countDown();
          return new GenerationResult("", new int[3], new int[0], StopReason.CANCELLED, 1, 1, "CPU");
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          break;
        }
      }
      return super.generate(request, listener, cancellation);
    }
  }

  /**
   * A streaming $ask over a raw socket (so the test decides exactly when the connection goes): sends the
   * request, reads the head and the stream up to the first {@code : keepalive} comment.
   */
  java.net.Socket streamUntilKeepalive(String model) throws Exception {
    java.net.Socket socket = openStream(model, 0);
    socket.setSoTimeout(30_000); // no keepalive within 30 s fails the test instead of hanging it
    BufferedReader reader = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
    String status = reader.readLine();
    assertThat(status).as("status line").startsWith("HTTP/1.1 200");
    List<String> lines = new ArrayList<>();
    String line;
    while ((line = reader.readLine()) != null && !line.equals(": keepalive")) {
      lines.add(line);
    }
    assertThat(line).as("a keepalive comment came; before it: " + lines).isEqualTo(": keepalive");
    assertThat(lines).as("no event before the keepalive").noneMatch(l -> l.startsWith("event:"));
    return socket;
  }

  /**
   * Sends a streaming, persisting $ask over a raw socket (closing it resets the connection, so the server's
   * next write fails) and reads nothing; {@code receiveBuffer} bytes of socket buffer, 0 for the system's.
   */
  java.net.Socket openStream(String model, int receiveBuffer) throws Exception {
    byte[] body = FHIR.newJsonParser().encodeResourceToString(AskOperationTest.ask("Heart rate?",
        "model", new StringType(model), "persist", new BooleanType(true))).getBytes(StandardCharsets.UTF_8);
    java.net.Socket socket = new java.net.Socket();
    if (receiveBuffer > 0) {
      socket.setReceiveBufferSize(receiveBuffer); // before connecting: it sizes the TCP window
    }
    socket.connect(new java.net.InetSocketAddress("127.0.0.1", port));
    socket.setSoLinger(true, 0);
    java.io.OutputStream out = socket.getOutputStream();
    out.write(("POST /fhir/" + patient + "/$ask HTTP/1.1\r\nHost: 127.0.0.1:" + port
        + "\r\nContent-Type: application/fhir+json\r\nAccept: text/event-stream\r\nContent-Length: " + body.length
        + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
    out.write(body);
    out.flush();
    return socket;
  }

  /** Writes its pieces as fast as the stream takes them, counting them. */
  static final class FloodEngine extends PacedEngine {
    final java.util.concurrent.atomic.AtomicInteger emitted = new java.util.concurrent.atomic.AtomicInteger();

    FloodEngine(String name, List<String> pieces) {
      super(name, pieces, Duration.ZERO, -1);
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      return super.generate(request, delta -> {
        listener.onText(delta);
        emitted.incrementAndGet();
      }, cancellation);
    }
  }

  @Test
  void aClientThatStopsReadingDoesNotHoldUpTheOtherStreamsKeepalives() throws Exception {
    List<String> flood = new ArrayList<>();
    for (int i = 0; i < 400; i++) {
      flood.add("x".repeat(64 * 1024)); // 25 MB in all: more than the socket buffers on both sides hold
    }
    FloodEngine flooding = new FloodEngine("stream-flood", flood);
    register("stream-flood", flooding);
    SlowPrefillEngine quiet = new SlowPrefillEngine("stream-quiet", null);
    catalog.put("stream-quiet", "Scripted stream-quiet", quiet, new InferenceQueue("stream-quiet", 1, 4, 10, null));
    Map<String, Integer> before = written();

    java.net.Socket stalled = openStream("stream-flood", 8 * 1024);
    try {
      // The server's write to the client that does not read blocks: the pieces stop coming.
      int last = -1;
      for (int i = 0; i < 60 && (flooding.emitted.get() == 0 || flooding.emitted.get() != last); i++) {
        last = flooding.emitted.get();
        Thread.sleep(500);
      }
      assertThat(flooding.emitted.get()).as("the stream to the client that does not read is stuck in a write")
          .isPositive().isLessThan(flood.size());
      Thread.sleep(1000); // several heartbeat intervals (200 ms here): the stuck stream's beats are due

      // Another client's stream, whose model reads a long prompt: its beats still come, every interval.
      java.net.Socket other = openStream("stream-quiet", 0);
      try {
        other.setSoTimeout(5_000); // far below the container's write timeout, which would release the stuck write
        BufferedReader reader = new BufferedReader(new InputStreamReader(other.getInputStream(), StandardCharsets.UTF_8));
        assertThat(reader.readLine()).as("status line").startsWith("HTTP/1.1 200");
        int beats = 0;
        String line;
        while (beats < 3 && (line = reader.readLine()) != null) {
          if (line.equals(": keepalive")) {
            beats++;
          }
        }
        assertThat(beats).as("keepalives on the other stream").isEqualTo(3);
      } finally {
        other.close();
      }
      assertThat(quiet.stoppedBeforeText.await(30, TimeUnit.SECONDS)).as("the other stream's model was stopped").isTrue();
    } finally {
      stalled.close();
    }
    // Resetting the stuck connection fails its write: that generation is cancelled too, and nothing is kept.
    assertThat(flooding.ended.await(30, TimeUnit.SECONDS)).as("the stuck stream's generation ended").isTrue();
    assertThat(flooding.sawCancellation).as("it was told to stop").isTrue();
    assertThat(flooding.emitted.get()).isLessThan(flood.size());
    assertThat(written()).isEqualTo(before);
  }

  @Test
  void aClientThatLeavesWhileTheModelReadsALongPromptStopsItAndNothingIsWritten() throws Exception {
    SlowPrefillEngine engine = new SlowPrefillEngine("stream-prefill", null);
    InferenceQueue queue = new InferenceQueue("stream-prefill", 1, 4, 10, null);
    catalog.put("stream-prefill", "Scripted stream-prefill", engine, queue);
    Map<String, Integer> before = written();

    java.net.Socket socket = streamUntilKeepalive("stream-prefill");
    assertThat(engine.prefilling.await(30, TimeUnit.SECONDS)).as("the model is reading the prompt").isTrue();
    socket.close();

    // Without heartbeats nothing is written while the prompt is read, so nothing notices the client left.
    assertThat(engine.stoppedBeforeText.await(30, TimeUnit.SECONDS)).as("the model was stopped before any text")
        .isTrue();
    awaitTrue(() -> queue.running() == 0, "the model's slot was given back");
    assertThat(written()).isEqualTo(before);
    assertThat(devicesFor("stream-prefill")).isZero();
  }

  @Test
  void aClientThatLeavesWhileWaitingForTheModelLeavesTheQueueAndNothingRunsForIt() throws Exception {
    CountDownLatch firstHolds = new CountDownLatch(1);
    SlowPrefillEngine engine = new SlowPrefillEngine("stream-queued", firstHolds);
    InferenceQueue queue = new InferenceQueue("stream-queued", 1, 4, 10, null);
    catalog.put("stream-queued", "Scripted stream-queued", engine, queue);
    try {
      // Someone else's call holds the model's only slot.
      java.util.concurrent.CompletableFuture<HttpResponse<String>> holder = http.sendAsync(
          HttpRequest.newBuilder(URI.create(base() + "/" + patient + "/$ask")).timeout(Duration.ofMinutes(2))
              .header("Content-Type", "application/fhir+json")
              .POST(HttpRequest.BodyPublishers.ofString(FHIR.newJsonParser().encodeResourceToString(
                  AskOperationTest.ask("Heart rate?", "model", new StringType("stream-queued"))))).build(),
          HttpResponse.BodyHandlers.ofString());
      awaitTrue(() -> queue.running() == 1, "the first call runs");
      Map<String, Integer> before = written();

      java.net.Socket socket = streamUntilKeepalive("stream-queued");
      awaitTrue(() -> queue.waiting() == 1, "the streaming call waits for the slot");
      socket.close();

      awaitTrue(() -> queue.waiting() == 0, "the streaming call left the queue while the slot was still taken");
      assertThat(queue.running()).isEqualTo(1);
      firstHolds.countDown();
      assertThat(holder.get(60, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
      awaitTrue(() -> queue.running() == 0, "the first call ended");
      assertThat(engine.calls.get()).as("the model ran for the first call only").isEqualTo(1);
      assertThat(written()).isEqualTo(before);
    } finally {
      firstHolds.countDown();
    }
  }

  static void awaitTrue(java.util.function.BooleanSupplier condition, String what) throws InterruptedException {
    for (int i = 0; i < 300 && !condition.getAsBoolean(); i++) {
      Thread.sleep(100);
    }
    assertThat(condition.getAsBoolean()).as(what).isTrue();
  }
}
