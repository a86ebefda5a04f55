package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.operations.queue.InferenceQueue;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/** A model that fails to load says why in /actuator/health, not only in the log. */
class ModelHealthTest extends AiOperationsServer {

  @Test
  void aModelThatFailedToLoadShowsTheReasonInHealth() throws Exception {
    catalog.load("broken", "Broken model", () -> {
      throw new IllegalStateException("no decoder_model_merged*.onnx in /models/broken/onnx");
    }, new InferenceQueue("broken", 1, 1, 10, null));
    try {
      HttpResponse<String> health = get("/actuator/health");
      for (int i = 0; i < 100 && !health.body().contains("failed:"); i++) {
        Thread.sleep(50);
        health = get("/actuator/health");
      }
      assertThat(health.statusCode()).isEqualTo(503);
      assertThat(health.body()).contains("\"broken\":\"failed: no decoder_model_merged*.onnx in /models/broken/onnx\"")
          .contains("\"vision\":\"ready\"");
      assertThat(get("/readyz").statusCode()).isEqualTo(503);
    } finally {
      catalog.remove("broken");
    }
    assertThat(get("/readyz").statusCode()).isEqualTo(200);
  }
}
