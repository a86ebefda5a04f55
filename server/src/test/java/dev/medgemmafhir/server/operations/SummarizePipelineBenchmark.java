package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.client.api.IGenericClient;
import ca.uhn.fhir.rest.client.api.ServerValidationModeEnum;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.engine.forge.ForgeDims;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.hl7.fhir.r4.model.AllergyIntolerance;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.DiagnosticReport;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Enumerations;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.MedicationRequest;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Procedure;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * Issue 6 item 5: how much of a {@code $summarize} on an encounter with 1,000 resources is spent
 * outside the model. The engine counts tokens with a real tokenizer of Gemma's vocabulary size
 * (a forged one: the prompt-fitting cost is real) but "generates" in a fixed time, so the model
 * share is known and everything else (HTTP, gathering through the DAOs, prompt fitting, write-back)
 * is measured over the real operation path.
 *
 * <p>A benchmark, not a test: surefire's default includes skip {@code *Benchmark}; run it with
 * {@code mvn -o -pl server test -Dtest=SummarizePipelineBenchmark -Dsurefire.failIfNoSpecifiedTests=false}.
 * It prints the breakdown; it asserts only that the operation succeeded (no timing thresholds).
 * {@code -Dbench.prefillTps} and {@code -Dbench.decodeTps} (tokens/s of the 4B model on the
 * machine, from {@code medgemma-cli bench}) turn the measured prompt length into a realistic
 * generation time to compare against (defaults: the q4 model as exported on the 2-core CPU of
 * onnx-models/BENCHMARKS.md). {@code -Dbench.showPrompt=true} prints the prompt.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:summarize-benchmark;DB_CLOSE_DELAY=-1",
      "medgemma.models.tiny.display-name=Forged tiny text model",
      "medgemma.models.tiny.concurrency=1",
      "medgemma.models.tiny.max-queue=0",
      "medgemma.async.heartbeat=200ms"
    })
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SummarizePipelineBenchmark {

  static final FhirContext FHIR = FhirContext.forR4Cached();
  static final int RESOURCES = 1000;
  static final int MAX_TOKENS = 512;

  @DynamicPropertySource
  static void model(DynamicPropertyRegistry registry) {
    registry.add("medgemma.models.tiny.path", () -> ForgedModels.textOnly().toString());
  }

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  final HttpClient http = HttpClient.newHttpClient();
  IGenericClient client;
  String encounterId;
  MedGemmaModel counter;
  TimedEngine engine;

  @BeforeAll
  void loadEncounterAndEngine() throws Exception {
    FHIR.getRestfulClientFactory().setServerValidationMode(ServerValidationModeEnum.NEVER);
    FHIR.getRestfulClientFactory().setSocketTimeout(300_000);
    client = FHIR.newRestfulGenericClient("http://localhost:" + port + "/fhir");
    encounterId = loadEncounter();
    // A tiny decoder but the real vocabulary size: tokenizing costs what it costs with Gemma's 262k ids.
    Path dir = Files.createTempDirectory("medgemma-bench-tokenizer");
    ModelForge.forge(ForgeSpec.textOnly().dims(ForgeDims.tiny().withVocab(262_208).withMaxPositions(8192)), dir);
    counter = MedGemmaModel.load(dir);
    engine = new TimedEngine(counter, Integer.getInteger("bench.contextLength", 8192),
        Long.getLong("bench.modelMillis", 200));
    catalog.put("timed", "Fixed-time engine", engine, new InferenceQueue("timed", 1, 4, 10, null));
  }

  @AfterAll
  void close() {
    if (counter != null) {
      counter.close();
    }
  }

  @Test
  void summarizeOnThousandResources() throws Exception {
    int warmups = Integer.getInteger("bench.warmups", 2);
    int runs = Integer.getInteger("bench.runs", 5);
    List<double[]> timed = new ArrayList<>();
    String facts = "";
    for (int i = 0; i < warmups + runs; i++) {
      engine.reset();
      long t0 = System.nanoTime();
      // A different maxTokens each time: identical requests would be answered from the idempotency key.
      HttpResponse<String> response = post("/Encounter/" + encounterId + "/$summarize",
          "{\"resourceType\":\"Parameters\",\"parameter\":[{\"name\":\"model\",\"valueString\":\"timed\"},"
              + "{\"name\":\"maxTokens\",\"valueInteger\":" + (MAX_TOKENS - i) + "}]}");
      long t1 = System.nanoTime();
      assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
      facts = java.util.regex.Pattern.compile("\"url\":\"(facts\\w+)\",\"valueInteger\":(\\d+)").matcher(response.body())
          .results().map(m -> m.group(1) + " " + m.group(2)).toList().toString();
      if (i >= warmups) {
        double total = (t1 - t0) / 1e6;
        double gather = (engine.firstCount - t0) / 1e6;
        double fit = (engine.generateStart - engine.firstCount) / 1e6;
        double model = (engine.generateEnd - engine.generateStart) / 1e6;
        double write = (t1 - engine.generateEnd) / 1e6;
        timed.add(new double[] {total, gather, fit, model, write, engine.promptTokens, engine.countCalls});
      }
    }
    double total = median(timed, 0);
    double gather = median(timed, 1);
    double fit = median(timed, 2);
    double model = median(timed, 3);
    double write = median(timed, 4);
    double outside = total - model;
    double promptTokens = median(timed, 5);
    double prefillTps = Double.parseDouble(System.getProperty("bench.prefillTps", "24"));
    double decodeTps = Double.parseDouble(System.getProperty("bench.decodeTps", "4.3"));
    double realistic = 1000 * (promptTokens / prefillTps + MAX_TOKENS / decodeTps);
    System.out.printf(Locale.ROOT, "%n$summarize on an encounter with %s resources (median of %d runs after %d warm-up), %s:%n"
            + "  total %.0f ms = HTTP in + gathering %.0f ms, prompt fitting %.0f ms (%.0f token counts, %.0f prompt tokens),"
            + " fixed-time model %.0f ms, write-back + HTTP out %.0f ms%n"
            + "  outside the model: %.0f ms; a realistic 4B generation here (%.0f prompt tokens at %.1f tok/s + %d new at %.2f tok/s)"
            + " takes %.0f s: outside share %.3f%%%n",
        RESOURCES + " (" + storedCounts() + ")", runs, warmups, facts, total, gather, fit, median(timed, 6), promptTokens, model, write, outside, promptTokens,
        prefillTps, MAX_TOKENS, decodeTps, realistic / 1000, 100 * outside / (outside + realistic));
  }

  private static double median(List<double[]> rows, int column) {
    double[] v = rows.stream().mapToDouble(r -> r[column]).sorted().toArray();
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private HttpResponse<String> post(String path, String body) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/fhir" + path))
        .timeout(Duration.ofMinutes(5))
        .header("Content-Type", "application/fhir+json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** One patient, one encounter and 998 resources recorded in it (or, for allergies, on the patient). */
  private String loadEncounter() {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    String patient = "urn:uuid:" + UUID.randomUUID();
    String encounter = "urn:uuid:" + UUID.randomUUID();
    Patient p = new Patient();
    p.addName().setFamily("Benchmark").addGiven("Pat");
    p.setGender(Enumerations.AdministrativeGender.FEMALE).setBirthDateElement(new org.hl7.fhir.r4.model.DateType("1951-03-04"));
    add(tx, patient, p);
    Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", "inpatient encounter"))
        .setSubject(new Reference(patient))
        .setPeriod(new Period().setStartElement(new DateTimeType("2026-10-01T08:00:00Z")).setEndElement(new DateTimeType("2026-10-12T15:00:00Z")));
    e.addReasonCode(text("Community-acquired pneumonia"));
    add(tx, encounter, e);
    String[] labs = {"Heart rate", "Respiratory rate", "Body temperature", "Oxygen saturation", "Systolic blood pressure",
        "Creatinine", "Sodium", "Potassium", "White blood cell count", "C-reactive protein", "Glucose", "Hemoglobin"};
    String[] units = {"/min", "/min", "Cel", "%", "mm[Hg]", "mg/dL", "mmol/L", "mmol/L", "10*3/uL", "mg/L", "mg/dL", "g/dL"};
    int n = 2;
    for (int i = 0; n < RESOURCES && i < 600; i++, n++) {
      Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL).setCode(text(labs[i % labs.length]))
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
          .setEffective(new DateTimeType("2026-10-" + String.format("%02d", 1 + i % 11) + "T" + String.format("%02d", i % 24) + ":00:00Z"))
          .setValue(new Quantity().setValue(40 + (i * 37) % 90 + 0.5).setUnit(units[i % units.length]));
      add(tx, null, o);
    }
    for (int i = 0; n < RESOURCES && i < 150; i++, n++) {
      add(tx, null, new Condition().setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
          .setCode(text("Diagnosis number " + i + " of the admission, documented by the ward team"))
          .setClinicalStatus(new CodeableConcept(new Coding("http://terminology.hl7.org/CodeSystem/condition-clinical",
              i % 3 == 0 ? "active" : "resolved", null))));
    }
    for (int i = 0; n < RESOURCES && i < 100; i++, n++) {
      MedicationRequest m = new MedicationRequest().setStatus(i % 2 == 0 ? MedicationRequest.MedicationRequestStatus.ACTIVE
              : MedicationRequest.MedicationRequestStatus.COMPLETED)
          .setIntent(MedicationRequest.MedicationRequestIntent.ORDER).setMedication(text("Medication " + i + " 500 mg tablet"))
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter));
      m.addDosageInstruction().setText("one tablet by mouth twice daily with food");
      add(tx, null, m);
    }
    for (int i = 0; n < RESOURCES && i < 80; i++, n++) {
      add(tx, null, new Procedure().setStatus(Procedure.ProcedureStatus.COMPLETED).setCode(text("Procedure " + i + " at the bedside"))
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
          .setPerformed(new DateTimeType("2026-10-0" + (1 + i % 9) + "T10:00:00Z")));
    }
    for (int i = 0; n < RESOURCES && i < 40; i++, n++) {
      add(tx, null, new DiagnosticReport().setStatus(DiagnosticReport.DiagnosticReportStatus.FINAL).setCode(text("Chest X-ray " + i))
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter))
          .setConclusion("Patchy right lower lobe consolidation, improving compared with the prior study; no effusion."));
    }
    for (int i = 0; n < RESOURCES; i++, n++) {
      add(tx, null, new AllergyIntolerance().setPatient(new Reference(patient)).setCode(text("Allergen " + i))
          .setCriticality(AllergyIntolerance.AllergyIntoleranceCriticality.LOW));
    }
    Bundle response = client.transaction().withBundle(tx).execute();
    for (Bundle.BundleEntryComponent entry : response.getEntry()) {
      IdType id = new IdType(entry.getResponse().getLocation());
      if ("Encounter".equals(id.getResourceType())) {
        return id.getIdPart();
      }
    }
    throw new IllegalStateException("no Encounter in the transaction response");
  }

  /** How many resources of each clinical type the server holds for the encounter: what the context could gather. */
  private String storedCounts() {
    StringBuilder out = new StringBuilder();
    for (String type : List.of("Observation", "Condition", "MedicationRequest", "Procedure", "DiagnosticReport")) {
      Bundle b = client.search().byUrl(type + "?encounter=Encounter/" + encounterId + "&_summary=count")
          .returnBundle(Bundle.class).execute();
      out.append(type).append(' ').append(b.getTotal()).append(", ");
    }
    return out.append("AllergyIntolerance on the patient").toString();
  }

  private static void add(Bundle tx, String fullUrl, Resource r) {
    tx.addEntry().setFullUrl(fullUrl == null ? "urn:uuid:" + UUID.randomUUID() : fullUrl).setResource(r)
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl(r.fhirType());
  }

  private static CodeableConcept text(String t) {
    return new CodeableConcept().setText(t);
  }

  /**
   * Counts tokens with a real engine's tokenizer, generates in a fixed time, and notes when the
   * operation moved from gathering to fitting (first count) and from fitting to the model.
   */
  static final class TimedEngine implements Engine {

    private final MedGemmaModel tokenizer;
    private final int contextLength;
    private final long modelMillis;
    volatile long firstCount;
    volatile long generateStart;
    volatile long generateEnd;
    volatile int promptTokens;
    volatile int countCalls;

    TimedEngine(MedGemmaModel tokenizer, int contextLength, long modelMillis) {
      this.tokenizer = tokenizer;
      this.contextLength = contextLength;
      this.modelMillis = modelMillis;
    }

    void reset() {
      firstCount = 0;
      countCalls = 0;
    }

    private void counted() {
      if (firstCount == 0) {
        firstCount = System.nanoTime();
      }
      countCalls++;
    }

    @Override
    public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
      generateStart = System.nanoTime();
      promptTokens = tokenizer.countPromptTokens(request);
      if (Boolean.getBoolean("bench.showPrompt")) {
        request.messages().forEach(m -> m.parts().forEach(p -> System.out.println(p)));
      }
      try {
        Thread.sleep(modelMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      String text = "Admitted with community-acquired pneumonia [C1], treated with antibiotics [C2]; improving [C3].";
      listener.onText(text);
      int[] generated = new int[Math.min(request.params().maxNewTokens(), 64)];
      Arrays.fill(generated, 7);
      GenerationResult r = new GenerationResult(text, new int[promptTokens], generated, StopReason.END_OF_SEQUENCE,
          modelMillis / 2.0, modelMillis / 2.0, "CPU");
      generateEnd = System.nanoTime();
      return r;
    }

    @Override
    public int countTokens(String text) {
      counted();
      return tokenizer.countTokens(text);
    }

    @Override
    public int countPromptTokens(GenerationRequest request) {
      counted();
      return tokenizer.countPromptTokens(request);
    }

    @Override
    public int contextLength() {
      return contextLength;
    }

    @Override
    public ModelIdentity identity() {
      return new ModelIdentity("bench/timed", "gemma3_text", "none", java.util.Optional.empty(), () -> "sha256:timed");
    }

    @Override
    public void close() {}
  }
}
