package dev.medgemmafhir.server.surfaces;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.server.MedGemmaFhirApplication;
import dev.medgemmafhir.server.operations.ScriptedEngine;
import dev.medgemmafhir.server.security.FhirHttp;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Condition;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * {@code encounter-discharge} across replicas: two servers (Spring contexts) on one PostgreSQL
 * database. While the discharge summary one replica started is still being drafted, the other
 * replica (a process that never saw the kick-off, as after a restart) says so and starts no second
 * job; once the draft is written, either offers it. {@code .ci/run} provides the database through
 * {@code MEDGEMMA_TEST_POSTGRES_URL}; without it this class is reported as skipped.
 */
@EnabledIfEnvironmentVariable(
    named = "MEDGEMMA_TEST_POSTGRES_URL",
    matches = "jdbc:postgresql:.+",
    disabledReason = "no PostgreSQL configured: set MEDGEMMA_TEST_POSTGRES_URL (CI does)")
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
    "medgemma.cds-hooks.model=" + CdsHooksReplicasTest.MODEL,
    "medgemma.async.heartbeat=200ms"
})
class CdsHooksReplicasTest {

  static final String MODEL = "cds-replicas";
  static final String DISCHARGE = "medgemma-discharge-summary";
  static final ObjectMapper JSON = new ObjectMapper();
  /** Closed, the scripted model holds the job until the test opens it; each test closes a new one. */
  static volatile CountDownLatch gate = new CountDownLatch(1);

  @LocalServerPort int port;
  @Autowired ModelCatalog catalog;
  @Autowired DataSource dataSource;
  final HttpClient http = HttpClient.newHttpClient();

  @DynamicPropertySource
  static void postgres(DynamicPropertyRegistry registry) {
    postgresProperties().forEach((name, value) -> registry.add(name, () -> value));
  }

  static Map<String, Object> postgresProperties() {
    Map<String, Object> properties = new HashMap<>();
    properties.put("spring.datasource.url", System.getenv("MEDGEMMA_TEST_POSTGRES_URL"));
    properties.put("spring.datasource.username", System.getenv().getOrDefault("MEDGEMMA_TEST_POSTGRES_USERNAME", "postgres"));
    properties.put("spring.datasource.password", System.getenv().getOrDefault("MEDGEMMA_TEST_POSTGRES_PASSWORD", ""));
    return properties;
  }

  static void provideModel(ModelCatalog models) {
    models.put(MODEL, "Scripted model", ScriptedEngine.textOnly(MODEL, request -> {
      try {
        gate.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return "Discharged home [C1].";
    }), new InferenceQueue(MODEL, 1, 4, 10, null));
  }

  @Test
  void aSecondReplicaSeesTheDraftTheFirstStartedAndStartsNoOther() throws Exception {
    gate = new CountDownLatch(1);
    try (ConfigurableApplicationContext other = secondReplica()) {
      int otherPort = Integer.parseInt(other.getEnvironment().getProperty("local.server.port"));
      String encounter = finishedEncounter();

      JsonNode first = call(port, encounter);
      assertThat(first.path("summary").asText()).as(first.toString()).isEqualTo("AI discharge summary started");
      JsonNode fromOther = call(otherPort, encounter);
      assertThat(fromOther.path("summary").asText()).as(fromOther.toString())
          .isEqualTo("An AI discharge summary is being drafted");
      // And the first replica, asked again, agrees.
      assertThat(call(port, encounter).path("summary").asText()).isEqualTo("An AI discharge summary is being drafted");
      assertThat(jobs(encounter)).as("jobs for " + encounter).isEqualTo(1);

      gate.countDown();
      awaitDraftOffered(otherPort, encounter);
    } finally {
      gate.countDown();
    }
  }

  /**
   * Calls at the same instant, half to each replica (threads released together by a barrier): one
   * of them starts the draft and every other one says it is being drafted. Checking the job table
   * and storing the job are one step; with "check, then kick off" several calls saw no job and each
   * started one.
   */
  @Test
  void callsAtTheSameInstantOnTwoReplicasStartOneDraft() throws Exception {
    gate = new CountDownLatch(1);
    int callers = 8;
    ExecutorService threads = Executors.newFixedThreadPool(callers);
    try (ConfigurableApplicationContext other = secondReplica()) {
      int otherPort = Integer.parseInt(other.getEnvironment().getProperty("local.server.port"));
      String encounter = finishedEncounter();
      CyclicBarrier together = new CyclicBarrier(callers);
      List<Future<String>> summaries = new ArrayList<>();
      for (int i = 0; i < callers; i++) {
        int replica = i % 2 == 0 ? port : otherPort;
        summaries.add(threads.submit(() -> {
          together.await(30, TimeUnit.SECONDS);
          return call(replica, encounter).path("summary").asText();
        }));
      }
      List<String> answered = new ArrayList<>();
      for (Future<String> summary : summaries) {
        answered.add(summary.get(120, TimeUnit.SECONDS));
      }
      assertThat(jobs(encounter)).as("jobs for " + encounter + " after " + answered).isEqualTo(1);
      assertThat(answered).as(answered.toString()).containsOnlyOnce("AI discharge summary started")
          .filteredOn(summary -> !summary.equals("AI discharge summary started"))
          .hasSize(callers - 1).containsOnly("An AI discharge summary is being drafted");

      gate.countDown();
      awaitDraftOffered(port, encounter);
    } finally {
      gate.countDown();
      threads.shutdownNow();
    }
  }

  /** Another server on the same database, with the scripted model; this one's model is provided too. */
  ConfigurableApplicationContext secondReplica() {
    provideModel(catalog);
    Map<String, Object> properties = postgresProperties();
    properties.put("server.port", "0");
    properties.put("medgemma.cds-hooks.model", MODEL);
    properties.put("medgemma.async.heartbeat", "200ms");
    // As arguments: default properties would lose to application.yaml (its datasource among them).
    String[] arguments = properties.entrySet().stream().map(e -> "--" + e.getKey() + "=" + e.getValue())
        .toArray(String[]::new);
    ConfigurableApplicationContext other = new SpringApplicationBuilder(MedGemmaFhirApplication.class).run(arguments);
    provideModel(other.getBean(ModelCatalog.class));
    return other;
  }

  /** Waits until the replica at {@code port} offers the written draft; one job and one discharge summary in all. */
  void awaitDraftOffered(int port, String encounter) throws Exception {
    JsonNode offered = null;
    for (int i = 0; i < 600 && offered == null; i++) {
      JsonNode card = call(port, encounter);
      if (card.path("summary").asText().startsWith("AI discharge summary drafted")) {
        offered = card;
      } else {
        assertThat(card.path("summary").asText()).isEqualTo("An AI discharge summary is being drafted");
        Thread.sleep(100);
      }
    }
    assertThat(offered).as("the discharge summary was drafted").isNotNull();
    assertThat(jobs(encounter)).isEqualTo(1);
    Bundle discharges = FhirHttp.parse(new FhirHttp(this.port).get("DocumentReference?encounter=" + encounter
        + "&type=http://loinc.org%7C18842-5", null), Bundle.class);
    assertThat(discharges.getEntry()).hasSize(1);
  }

  int jobs(String encounter) {
    return new JdbcTemplate(dataSource).queryForObject(
        "SELECT COUNT(*) FROM mgf_async_job WHERE operation = 'summarize' AND target = ?", Integer.class, encounter);
  }

  String finishedEncounter() {
    FhirHttp fhir = new FhirHttp(port);
    String patient = location(fhir.post("Patient", null, new Patient()));
    Encounter encounter = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED)
        .setClass_(new Coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", "IMP", null))
        .setSubject(new Reference(patient));
    String id = location(fhir.post("Encounter", null, encounter));
    Condition condition = new Condition().setSubject(new Reference(patient)).setEncounter(new Reference(id))
        .setCode(new CodeableConcept(new Coding("http://snomed.info/sct", "233604007", "Pneumonia")));
    assertThat(fhir.post("Condition", null, condition).statusCode()).isEqualTo(201);
    return id;
  }

  static String location(HttpResponse<String> created) {
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    return new IdType(created.headers().firstValue("Location").orElseThrow()).toUnqualifiedVersionless().getValue();
  }

  /** The encounter-discharge hook on the replica at {@code port} (security off: no EHR JWT); its one card. */
  JsonNode call(int port, String encounter) throws Exception {
    ObjectNode request = JSON.createObjectNode().put("hook", "encounter-discharge")
        .put("hookInstance", UUID.randomUUID().toString());
    request.putObject("context").put("userId", "Practitioner/1")
        .put("patientId", "unused").put("encounterId", new IdType(encounter).getIdPart());
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(
            URI.create("http://localhost:" + port + "/cds-services/" + DISCHARGE))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(request.toString())).build(), HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    JsonNode cards = JSON.readTree(response.body()).path("cards");
    assertThat(cards).as(response.body()).hasSize(1);
    return cards.get(0);
  }
}
