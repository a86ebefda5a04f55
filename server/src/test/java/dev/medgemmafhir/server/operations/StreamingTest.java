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
  static final class PacedEngine implements Engine {
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
}
