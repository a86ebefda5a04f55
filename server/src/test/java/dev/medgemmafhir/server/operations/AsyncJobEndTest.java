package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.rest.api.CacheControlDirective;
import dev.medgemmafhir.engine.EngineException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import org.hl7.fhir.r4.model.AuditEvent;
import org.hl7.fhir.r4.model.Bundle;
import org.junit.jupiter.api.Test;

/** How an asynchronous job ended is audited, not only its kick-off. */
class AsyncJobEndTest extends AiOperationsServer {

  Bundle.BundleEntryComponent runAsync(String encounter, String model) throws Exception {
    HttpResponse<String> kickoff = post("/" + encounter + "/$summarize",
        SummarizeOperationTest.params("model", "valueString", model), "Prefer", "respond-async");
    assertThat(kickoff.statusCode()).as(kickoff.body()).isEqualTo(202);
    URI status = URI.create(kickoff.headers().firstValue("Content-Location").orElseThrow());
    HttpResponse<String> poll = kickoff;
    for (int i = 0; i < 600 && poll.statusCode() == 202; i++) {
      Thread.sleep(100);
      poll = http.send(HttpRequest.newBuilder(status).build(), HttpResponse.BodyHandlers.ofString());
    }
    assertThat(poll.statusCode()).as(poll.body()).isEqualTo(200);
    return parse(poll, Bundle.class).getEntryFirstRep();
  }

  /** The AuditEvents naming {@code entity} whose outcome description is {@code outcome}; waits a little for the job's. */
  List<AuditEvent> audits(String entity, String outcome) throws InterruptedException {
    List<AuditEvent> found = List.of();
    for (int i = 0; i < 100 && found.isEmpty(); i++) {
      found = client.search().forResource(AuditEvent.class).where(AuditEvent.ENTITY.hasId(entity))
          .cacheControl(new CacheControlDirective().setNoCache(true)).returnBundle(Bundle.class).execute()
          .getEntry().stream().map(e -> (AuditEvent) e.getResource())
          .filter(a -> outcome.equals(a.getOutcomeDesc())).toList();
      if (found.isEmpty()) {
        Thread.sleep(100);
      }
    }
    return found;
  }

  @Test
  void aCompletedJobIsAuditedWithTheDraftItWrote() throws Exception {
    String encounter = encounterWithAFact();
    String model = register("audited-ok", ScriptedEngine.textOnly("audited-ok", request -> "Stable [C1]."));
    Bundle.BundleEntryComponent result = runAsync(encounter, model);
    assertThat(result.getResponse().getStatus()).startsWith("201");
    String draft = result.getResponse().getLocation().replaceFirst("/_history/.*$", "");

    List<AuditEvent> ended = audits(draft, "HTTP 201");
    assertThat(ended).hasSize(1);
    AuditEvent event = ended.get(0);
    assertThat(event.getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._0);
    assertThat(event.getEntityFirstRep().getWhat().getReference()).isEqualTo(encounter);
    assertThat(event.getAgent()).anySatisfy(a -> assertThat(a.getWho().getDisplay()).isEqualTo(model));
    // The kick-off is audited as before.
    assertThat(audits(encounter, "HTTP 202")).hasSize(1);
  }

  @Test
  void aFailedJobIsAuditedAsAServerError() throws Exception {
    String encounter = encounterWithAFact();
    String model = register("audited-failure", ScriptedEngine.textOnly("audited-failure", request -> {
      throw new EngineException("decoder failed");
    }));
    Bundle.BundleEntryComponent result = runAsync(encounter, model);
    assertThat(result.getResponse().getStatus()).startsWith("500");

    List<AuditEvent> ended = audits(encounter, "HTTP 500");
    assertThat(ended).hasSize(1);
    assertThat(ended.get(0).getOutcome()).isEqualTo(AuditEvent.AuditEventOutcome._8);
  }
}
