package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Encounter;
import org.hl7.fhir.r4.model.Observation;
import org.hl7.fhir.r4.model.Patient;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/**
 * Fifty callers at once, synchronous, asynchronous and cancelling, on one model with one slot and
 * four places in its queue: never a 5xx, never two generations at once, a full queue is a 429 with
 * Retry-After for synchronous callers only, every accepted job ends or is cancelled, and the queue
 * is empty afterwards.
 */
class ConcurrentCallersTest extends AiOperationsServer {

  static final int CALLERS = 50;

  List<String> encounters(int n) {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    for (int i = 0; i < n; i++) {
      String patient = "urn:uuid:" + java.util.UUID.randomUUID();
      String encounter = "urn:uuid:" + java.util.UUID.randomUUID();
      tx.addEntry().setFullUrl(patient).setResource(new Patient()).getRequest()
          .setMethod(Bundle.HTTPVerb.POST).setUrl("Patient");
      Encounter e = new Encounter().setStatus(Encounter.EncounterStatus.FINISHED).setSubject(new Reference(patient));
      e.getClass_().setCode("AMB");
      tx.addEntry().setFullUrl(encounter).setResource(e).getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Encounter");
      Observation o = new Observation().setStatus(Observation.ObservationStatus.FINAL)
          .setSubject(new Reference(patient)).setEncounter(new Reference(encounter));
      o.getCode().setText("Respiratory rate");
      o.setValue(new org.hl7.fhir.r4.model.Quantity(12 + i).setUnit("/min"));
      tx.addEntry().setResource(o).getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Observation");
    }
    Bundle response = client.transaction().withBundle(tx).execute();
    List<String> ids = new ArrayList<>();
    response.getEntry().stream().map(e -> e.getResponse().getLocation()).filter(l -> l.startsWith("Encounter/"))
        .forEach(l -> ids.add(l.replaceFirst("/_history/.*$", "")));
    return ids;
  }

  @Test
  void fiftyMixedCallersHoldTheQueueRulesWithoutAServerError() throws Exception {
    AtomicInteger running = new AtomicInteger();
    AtomicInteger mostAtOnce = new AtomicInteger();
    String model = "crowd";
    catalog.put(model, "Crowded scripted model", ScriptedEngine.textOnly("crowd", request -> {
      mostAtOnce.accumulateAndGet(running.incrementAndGet(), Math::max);
      try {
        Thread.sleep(30);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } finally {
        running.decrementAndGet();
      }
      return "Stable [C1].";
    }), new dev.medgemmafhir.operations.queue.InferenceQueue(model, 1, 4, 3, meters));
    List<String> encounters = encounters(CALLERS);
    Map<String, AtomicInteger> answers = new ConcurrentHashMap<>();
    CountDownLatch start = new CountDownLatch(1);
    ExecutorService callers = Executors.newFixedThreadPool(CALLERS);
    List<Future<?>> done = new ArrayList<>();
    for (int i = 0; i < CALLERS; i++) {
      String path = "/" + encounters.get(i) + "/$summarize";
      int kind = i % 3;
      done.add(callers.submit(() -> {
        start.await();
        var params = SummarizeOperationTest.params("model", "valueString", model);
        if (kind == 0) {
          HttpResponse<String> sync = post(path, params);
          answers.computeIfAbsent("sync " + sync.statusCode(), k -> new AtomicInteger()).incrementAndGet();
          if (sync.statusCode() == 429) {
            assertThat(sync.headers().firstValue("Retry-After")).isPresent();
          }
          return null;
        }
        HttpResponse<String> kickoff = post(path, params, "Prefer", "respond-async");
        answers.computeIfAbsent("kick-off " + kickoff.statusCode(), k -> new AtomicInteger()).incrementAndGet();
        URI status = URI.create(kickoff.headers().firstValue("Content-Location").orElseThrow());
        if (kind == 2) {
          HttpResponse<String> cancel = http.send(HttpRequest.newBuilder(status).DELETE().build(),
              HttpResponse.BodyHandlers.ofString());
          answers.computeIfAbsent("cancel " + cancel.statusCode(), k -> new AtomicInteger()).incrementAndGet();
          HttpResponse<String> after = http.send(HttpRequest.newBuilder(status).build(), HttpResponse.BodyHandlers.ofString());
          answers.computeIfAbsent("poll after cancel " + after.statusCode(), k -> new AtomicInteger()).incrementAndGet();
          return null;
        }
        HttpResponse<String> poll = kickoff;
        for (int p = 0; p < 1200 && poll.statusCode() == 202; p++) {
          Thread.sleep(100);
          poll = http.send(HttpRequest.newBuilder(status).build(), HttpResponse.BodyHandlers.ofString());
        }
        String ended = poll.statusCode() == 200
            ? parse(poll, Bundle.class).getEntryFirstRep().getResponse().getStatus().substring(0, 3) : "none";
        answers.computeIfAbsent("job " + poll.statusCode() + " " + ended, k -> new AtomicInteger()).incrementAndGet();
        return null;
      }));
    }
    start.countDown();
    for (Future<?> f : done) {
      f.get(5, TimeUnit.MINUTES);
    }
    callers.shutdown();

    Map<String, Integer> seen = new java.util.TreeMap<>();
    answers.forEach((k, v) -> seen.put(k, v.get()));
    int syncCallers = (CALLERS + 2) / 3;
    int asyncCallers = (CALLERS + 1) / 3;
    int cancellers = CALLERS / 3;
    // Synchronous callers get their draft or a 429; asynchronous ones are always accepted.
    assertThat(seen.getOrDefault("sync 200", 0) + seen.getOrDefault("sync 429", 0)).as(seen.toString())
        .isEqualTo(syncCallers);
    assertThat(seen.get("kick-off 202")).as(seen.toString()).isEqualTo(asyncCallers + cancellers);
    // Every job that was not cancelled wrote its draft; every cancelled one is gone.
    assertThat(seen.get("job 200 201")).as(seen.toString()).isEqualTo(asyncCallers);
    assertThat(seen.get("cancel 202")).as(seen.toString()).isEqualTo(cancellers);
    assertThat(seen.get("poll after cancel 404")).as(seen.toString()).isEqualTo(cancellers);
    assertThat(seen.keySet()).as(seen.toString()).noneMatch(k -> k.matches(".* 5\\d\\d.*"));
    assertThat(mostAtOnce.get()).as("generations at once on a model with one slot").isEqualTo(1);
    String metrics = get("/actuator/prometheus").body();
    assertThat(metrics).contains("medgemma_inference_running{model=\"crowd\"} 0.0")
        .contains("medgemma_inference_queue_depth{model=\"crowd\"} 0.0");
    System.out.println("50 concurrent callers: " + seen);
  }
}
