package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.medgemmafhir.engine.forge.ForgeDims;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import dev.medgemmafhir.operations.run.AiTaskRunner;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Issue 13 item 3: {@code $summarize} over real HTTP with {@code bench.callers} (8) concurrent
 * callers, each on its own encounter, against the real engine on a forged q4 model, at the model
 * concurrency {@code bench.concurrency} ({@code medgemma.models.<id>.concurrency}: 1 = one
 * generation at a time, N = up to N decoded as one batch). Reports, per request, the time to first
 * text (from the server's own log line: since the operation began, gathering and the wait for a
 * model slot included) and the total as the caller sees it, with p50 / p95 and the aggregate
 * generated tokens per second.
 *
 * <p>A benchmark, not a test: surefire's default includes skip {@code *Benchmark}; it asserts only
 * that every call succeeded. Run it once per setting, side by side:
 * <pre>
 * mvn -o -pl server test -Dtest=SummarizeConcurrencyBenchmark -Dsurefire.failIfNoSpecifiedTests=false -Dbench.concurrency=1
 * mvn -o -pl server test -Dtest=SummarizeConcurrencyBenchmark -Dsurefire.failIfNoSpecifiedTests=false -Dbench.concurrency=8
 * </pre>
 * Options: {@code bench.callers} (8), {@code bench.maxTokens} (64 new tokens per call),
 * {@code bench.facts} (12 resources per encounter), {@code bench.dims}
 * ({@code hidden,layers,heads,kvHeads,headDim,intermediate,vocab}; default a reduced Gemma shape,
 * {@code 1024,8,8,4,128,4096,65536}, whose 4-bit weights (about 0.1 GB) still do not fit in cache,
 * so decoding stays memory-bound as with the 4B), {@code bench.model} (an existing model directory
 * instead of forging one), {@code bench.dtype} (q4), {@code bench.prefillChunk}
 * ({@code medgemma.models.<id>.prefill-chunk}; unset = the default).
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:summarize-concurrency-benchmark;DB_CLOSE_DELAY=-1",
      "server.address=127.0.0.1",
      "medgemma.models.bench.display-name=Forged benchmark model"
    })
class SummarizeConcurrencyBenchmark {

  static final FhirContext FHIR = FhirContext.forR4Cached();
  static final int CALLERS = Integer.getInteger("bench.callers", 8);
  static final int MAX_TOKENS = Integer.getInteger("bench.maxTokens", 64);
  static final int FACTS = Integer.getInteger("bench.facts", 12);
  static final Pattern PROMPT_TOKENS = Pattern.compile("\"url\"\\s*:\\s*\"promptTokens\"\\s*,\\s*\"valueInteger\"\\s*:\\s*(\\d+)");
  static final Pattern DONE = Pattern.compile("for (Encounter/\\S+) with model \\S+ \\((\\d+) tokens.*first text after (-?\\d+) ms, done after (\\d+) ms");

  @DynamicPropertySource
  static void model(DynamicPropertyRegistry registry) {
    registry.add("medgemma.models.bench.path", () -> modelDir().toString());
    registry.add("medgemma.models.bench.dtype", () -> System.getProperty("bench.dtype", "q4"));
    registry.add("medgemma.models.bench.concurrency", () -> System.getProperty("bench.concurrency", "1"));
    if (System.getProperty("bench.prefillChunk") != null) {
      registry.add("medgemma.models.bench.prefill-chunk", () -> System.getProperty("bench.prefillChunk"));
    }
    // Every caller may wait: this measures latency, not the 429 rule.
    registry.add("medgemma.models.bench.max-queue", () -> String.valueOf(CALLERS));
  }

  private static Path modelDir;

  static synchronized Path modelDir() {
    if (modelDir == null) {
      String given = System.getProperty("bench.model");
      try {
        if (given != null) {
          modelDir = Path.of(given);
        } else {
          int[] d = Arrays.stream(System.getProperty("bench.dims", "1024,8,8,4,128,4096,65536").split(","))
              .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
          ForgeDims dims = new ForgeDims(d[0], d[1], d[2], d[3], d[4], d[5], d[6], 4096, 32, 8);
          modelDir = Files.createTempDirectory("medgemma-concurrency-bench");
          long t0 = System.nanoTime();
          ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4).dims(dims).externalData(true).seed(13), modelDir);
          System.out.printf(Locale.ROOT, "forged %s in %.0f s%n", dims, (System.nanoTime() - t0) / 1e9);
        }
      } catch (Exception e) {
        throw new IllegalStateException("forging the benchmark model failed", e);
      }
    }
    return modelDir;
  }

  @LocalServerPort int port;
  final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  @Test
  void concurrentSummaries() throws Exception {
    awaitReady();
    List<String> encounters = new ArrayList<>();
    for (int i = 0; i <= CALLERS; i++) {
      encounters.add(loadEncounter(i));
    }
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    logs.start();
    Logger runnerLog = (Logger) LoggerFactory.getLogger(AiTaskRunner.class);
    runnerLog.addAppender(logs);
    try {
      // Warm-up on its own encounter: maps the weights in, compiles the hot paths.
      HttpResponse<String> warm = summarize(encounters.get(CALLERS));
      assertThat(warm.statusCode()).as(warm.body()).isEqualTo(200);
      logs.list.clear();

      double loadBefore = loadAverage();
      CountDownLatch start = new CountDownLatch(1);
      ExecutorService pool = Executors.newFixedThreadPool(CALLERS);
      List<Future<double[]>> calls = new ArrayList<>();
      for (int i = 0; i < CALLERS; i++) {
        String encounter = encounters.get(i);
        calls.add(pool.submit(() -> {
          start.await();
          long t0 = System.nanoTime();
          HttpResponse<String> r = summarize(encounter);
          long t1 = System.nanoTime();
          assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
          Matcher prompt = PROMPT_TOKENS.matcher(r.body());
          return new double[] {t0 / 1e6, t1 / 1e6, prompt.find() ? Double.parseDouble(prompt.group(1)) : -1};
        }));
      }
      long wall0 = System.nanoTime();
      start.countDown();
      double[] totals = new double[CALLERS];
      double[] promptTokens = new double[CALLERS];
      for (int i = 0; i < CALLERS; i++) {
        double[] t = calls.get(i).get();
        totals[i] = t[1] - t[0];
        promptTokens[i] = t[2];
      }
      Arrays.sort(promptTokens);
      double wall = (System.nanoTime() - wall0) / 1e9;
      pool.shutdown();
      double loadAfter = loadAverage();

      Map<String, double[]> server = new HashMap<>();
      for (ILoggingEvent e : List.copyOf(logs.list)) {
        Matcher m = DONE.matcher(e.getFormattedMessage());
        if (m.find()) {
          server.put(m.group(1), new double[] {Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4))});
        }
      }
      assertThat(server).as("the server's log line for every call").hasSize(CALLERS);
      double[] ttft = server.values().stream().mapToDouble(v -> v[1]).sorted().toArray();
      double tokens = server.values().stream().mapToDouble(v -> v[0]).sum();
      Arrays.sort(totals);
      System.out.printf(Locale.ROOT, "%n$summarize, %d concurrent callers, model concurrency %s, %d new tokens max, %d facts per encounter"
              + " (%.0f-%.0f prompt tokens), load %.1f -> %.1f%n  time to first text p50 %.0f ms, p95 %.0f ms (max %.0f) | total p50 %.0f ms, p95 %.0f ms (max %.0f)"
              + " | %.0f tokens in %.1f s: %.2f tokens/s in all%n",
          CALLERS, System.getProperty("bench.concurrency", "1"), MAX_TOKENS, FACTS, promptTokens[0], promptTokens[CALLERS - 1],
          loadBefore, loadAfter,
          percentile(ttft, 50), percentile(ttft, 95), ttft[ttft.length - 1],
          percentile(totals, 50), percentile(totals, 95), totals[totals.length - 1], tokens, wall, tokens / wall);
      System.out.println("BENCH-JSON " + String.format(Locale.ROOT,
          "{\"callers\":%d,\"concurrency\":%s,\"max_tokens\":%d,\"ttft_ms\":%s,\"total_ms\":%s,\"tokens\":%.0f,\"wall_s\":%.2f,\"load\":[%.2f,%.2f]}",
          CALLERS, System.getProperty("bench.concurrency", "1"), MAX_TOKENS, Arrays.toString(ttft), Arrays.toString(totals), tokens, wall,
          loadBefore, loadAfter));
    } finally {
      runnerLog.detachAppender(logs);
    }
  }

  /** The model loads in the background at start-up: /readyz answers 200 once it has. */
  private void awaitReady() throws Exception {
    long deadline = System.nanoTime() + Duration.ofMinutes(10).toNanos();
    while (http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/readyz")).build(),
        HttpResponse.BodyHandlers.discarding()).statusCode() != 200) {
      assertThat(System.nanoTime()).as("the model loads within 10 minutes").isLessThan(deadline);
      Thread.sleep(250);
    }
  }

  /** Nearest-rank percentile of sorted values. */
  static double percentile(double[] sorted, int p) {
    int rank = (int) Math.ceil(p / 100.0 * sorted.length);
    return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
  }

  private static double loadAverage() {
    try {
      return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
    } catch (Exception e) {
      return -1;
    }
  }

  private HttpResponse<String> summarize(String encounterId) throws Exception {
    String body = "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"maxTokens\",\"valueInteger\":" + MAX_TOKENS + "}]}";
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/fhir/Encounter/" + encounterId + "/$summarize"))
        .timeout(Duration.ofMinutes(30))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** One patient with one encounter and {@link #FACTS} observations, conditions and medications in it. */
  private String loadEncounter(int index) throws Exception {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    String patient = "urn:uuid:" + UUID.randomUUID();
    String encounter = "urn:uuid:" + UUID.randomUUID();
    Patient p = new Patient();
    p.addName().setFamily("Bench" + index).addGiven("Pat");
    p.setGender(Enumerations.AdministrativeGender.FEMALE).setBirthDateElement(new org.hl7.fhir.r4.model.DateType("1951-03-04"));
    add(tx, patient, p);
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", "inpatient encounter"))
        .setSubject(new Reference(patient))
        .setPeriod(new Period().setStartElement(new DateTimeType("2026-10-01T08:00:00Z")).setEndElement(new DateTimeType("2026-10-06T15:00:00Z")));
    e.addReasonCode(new CodeableConcept().setText("Community-acquired pneumonia"));
    add(tx, encounter, e);
    String[] labs = {"Heart rate", "Oxygen saturation", "Creatinine", "White blood cell count", "C-reactive protein"};
    for (int i = 0; i < FACTS; i++) {
      switch (i % 3) {
        case 0 -> add(tx, null, new Observation().setStatus(Observation.ObservationStatus.FINAL)
            .setCode(new CodeableConcept().setText(labs[i % labs.length]))
            .setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
            .setEffective(new DateTimeType("2026-10-0" + (1 + i % 5) + "T0" + (i % 10) + ":00:00Z"))
            .setValue(new Quantity().setValue(40 + (i * 37) % 90 + 0.5).setUnit("mg/dL")));
        case 1 -> add(tx, null, new Condition().setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
            .setCode(new CodeableConcept().setText("Diagnosis " + i + " documented by the ward team")));
        default -> add(tx, null, new MedicationRequest().setStatus(MedicationRequest.MedicationRequestStatus.ACTIVE)
            .setIntent(MedicationRequest.MedicationRequestIntent.ORDER)
            .setMedication(new CodeableConcept().setText("Medication " + i + " 500 mg tablet"))
            .setSubject(new Reference(patient)).setEncounter(new Reference(encounter)));
      }
    }
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/fhir"))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(FHIR.newJsonParser().encodeResourceToString(tx))).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
    Bundle response = FHIR.newJsonParser().parseResource(Bundle.class, r.body());
    for (Bundle.BundleEntryComponent entry : response.getEntry()) {
      IdType id = new IdType(entry.getResponse().getLocation());
      if ("Encounter".equals(id.getResourceType())) {
        return id.getIdPart();
      }
    }
    throw new IllegalStateException("no Encounter in the transaction response");
  }

  private static void add(Bundle tx, String fullUrl, Resource r) {
    tx.addEntry().setFullUrl(fullUrl == null ? "urn:uuid:" + UUID.randomUUID() : fullUrl).setResource(r)
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl(r.fhirType());
  }
}
