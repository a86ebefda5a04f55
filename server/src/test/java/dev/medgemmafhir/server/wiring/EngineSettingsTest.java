package dev.medgemmafhir.server.wiring;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.model.ExecutionProvider;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.util.unit.DataSize;

/** medgemma.engine.* reaches ONNX Runtime as written. */
class EngineSettingsTest {

  @Test
  void everyEngineSettingIsPassedOn() {
    RuntimeOptions options = OperationsWiring.runtimeOptions(
        new MedGemmaProperties.Engine("CUDA", 3, 1, "basic", false, 4));
    assertThat(options.executionProvider()).isEqualTo(ExecutionProvider.CUDA);
    assertThat(options.intraOpThreads()).isEqualTo(3);
    assertThat(options.interOpThreads()).isEqualTo(1);
    assertThat(options.optimizationLevel()).isEqualTo(OrtSession.SessionOptions.OptLevel.BASIC_OPT);
    assertThat(options.allowSpinning()).isFalse();
    assertThat(options.q4AccuracyLevel()).isEqualTo(4);
  }

  @Test
  void aModelsConcurrencyIsItsBatchSizeItsKvBudgetIsPassedInBytesAndItsPrefillChunkInTokens() {
    RuntimeOptions engine = OperationsWiring.runtimeOptions(new MedGemmaProperties.Engine(null, null, null, null, null, null));
    RuntimeOptions batched = OperationsWiring.modelOptions(engine,
        new MedGemmaProperties.Model(Path.of("/m"), null, null, 8, null, DataSize.parse("3GB"), 1024));
    assertThat(batched.maxBatch()).isEqualTo(8);
    assertThat(batched.kvCacheBudgetBytes()).isEqualTo(3L << 30);
    assertThat(batched.prefillChunkTokens()).isEqualTo(1024);
    RuntimeOptions plain = OperationsWiring.modelOptions(engine, new MedGemmaProperties.Model(Path.of("/m"), null, null, null, null, null, null));
    assertThat(plain.maxBatch()).as("an unset concurrency decodes two at a time").isEqualTo(2);
    assertThat(plain.kvCacheBudgetBytes()).isZero();
    assertThat(plain.prefillChunkTokens()).isZero();
    assertThatThrownBy(() -> OperationsWiring.modelOptions(engine,
        new MedGemmaProperties.Model(Path.of("/m"), null, null, 2, null, null, -1)))
        .hasMessageContaining("medgemma.models.<id>.prefill-chunk");
  }

  @Test
  void defaultsRunFourBitWeightsWithInt8ComputeOnCpu() {
    RuntimeOptions options = OperationsWiring.runtimeOptions(new MedGemmaProperties.Engine(null, null, null, null, null, null));
    assertThat(options.executionProvider()).isEqualTo(ExecutionProvider.CPU);
    assertThat(options.q4AccuracyLevel()).isEqualTo(4);
    assertThat(options.allowSpinning()).isTrue();
  }

  @Test
  void anUnknownOptimisationLevelStopsStartUpWithTheProperty() {
    assertThatThrownBy(() -> OperationsWiring.runtimeOptions(
        new MedGemmaProperties.Engine("cpu", 0, 0, "fastest", true, -1)))
        .hasMessageContaining("medgemma.engine.optimization-level");
    assertThatThrownBy(() -> OperationsWiring.runtimeOptions(
        new MedGemmaProperties.Engine("tpu", 0, 0, "all", true, -1)))
        .hasMessageContaining("medgemma.engine.execution-provider must be cpu or cuda, was tpu");
  }
}
