package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Parameters;
import org.junit.jupiter.api.Test;

/**
 * {@code Prefer: respond-async, unless-running} over HTTP: the first kick-off starts the job; one while it is
 * queued or running starts nothing and answers 200 with an OperationOutcome coded duplicate that does not
 * name the live job (its id would let the caller poll and cancel a job that may be another client's).
 */
class UnlessRunningKickoffTest extends AiOperationsServer {

  static final String PREFER = "respond-async, unless-running";

  @Test
  void aKickOffWhileAJobOfTheOperationOnTheResourceRunsStartsNoneAndDoesNotNameIt() throws Exception {
    CountDownLatch gate = new CountDownLatch(1);
    String model = register("unless-running", ScriptedEngine.textOnly("unless-running", request -> {
      try {
        gate.await(60, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return "Stable [C1].";
    }));
    String encounter = encounterWithAFact();
    Parameters parameters = SummarizeOperationTest.params("model", "valueString", model);
    try {
      HttpResponse<String> first = post("/" + encounter + "/$summarize", parameters, "Prefer", PREFER);
      assertThat(first.statusCode()).as(first.body()).isEqualTo(202);
      String statusUrl = first.headers().firstValue("Content-Location").orElseThrow();
      String jobId = statusUrl.substring(statusUrl.indexOf("_jobId=") + 7);

      HttpResponse<String> second = post("/" + encounter + "/$summarize", parameters, "Prefer", PREFER);
      assertThat(second.statusCode()).as(second.body()).isEqualTo(200);
      assertThat(second.headers().firstValue("Content-Location")).isEmpty();
      assertThat(second.body()).doesNotContain(jobId);
      OperationOutcome outcome = parse(second, OperationOutcome.class);
      assertThat(outcome.getIssueFirstRep().getCode()).isEqualTo(OperationOutcome.IssueType.DUPLICATE);
      assertThat(outcome.getIssueFirstRep().getDiagnostics()).contains("already queued or running", encounter);

      // Without the preference a second job starts, as before.
      HttpResponse<String> plain = post("/" + encounter + "/$summarize", parameters, "Prefer", "respond-async");
      assertThat(plain.statusCode()).as(plain.body()).isEqualTo(202);
      assertThat(plain.headers().firstValue("Content-Location")).hasValueSatisfying(url ->
          assertThat(url).isNotEqualTo(statusUrl));

      gate.countDown();
      Bundle result = jobResult(first);
      assertThat(result.getEntryFirstRep().getResponse().getStatus()).startsWith("201");
      jobResult(plain);
    } finally {
      gate.countDown();
    }
  }

}
