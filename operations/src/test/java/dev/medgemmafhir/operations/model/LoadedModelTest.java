package dev.medgemmafhir.operations.model;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.Device;
import org.junit.jupiter.api.Test;

/** The model Device names the official weights a converted model came from. */
class LoadedModelTest {

  private static final String RECORD = "{\"source\":{\"repository\":\"google/medgemma-4b-it\",\"revision\":\"abc\"}}";

  @Test
  void aConvertedModelsDeviceCarriesItsConversionRecord() {
    Device device = model(Optional.of(RECORD)).device();
    Attachment record = (Attachment) device.getExtensionByUrl(AiVocabulary.MODEL_CONVERSION_EXTENSION).getValue();
    assertThat(record.getContentType()).isEqualTo("application/json");
    assertThat(new String(record.getData(), StandardCharsets.UTF_8)).isEqualTo(RECORD);
  }

  @Test
  void aModelConvertedElsewhereHasNoConversionExtension() {
    assertThat(model(Optional.empty()).device().getExtensionByUrl(AiVocabulary.MODEL_CONVERSION_EXTENSION)).isNull();
  }

  private static LoadedModel model(Optional<String> record) {
    ModelIdentity identity = new ModelIdentity("google/medgemma-4b-it", "gemma3", "q4", Optional.of("abc"),
        () -> "sha256:1", record);
    Engine engine = new Engine() {
      @Override
      public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
        throw new UnsupportedOperationException();
      }

      @Override
      public int countTokens(String text) {
        return 0;
      }

      @Override
      public int countPromptTokens(GenerationRequest request) {
        return 0;
      }

      @Override
      public int contextLength() {
        return 1024;
      }

      @Override
      public ModelIdentity identity() {
        return identity;
      }

      @Override
      public void close() {}
    };
    return new LoadedModel("m", "MedGemma", engine, new InferenceQueue("m", 1, 1, 10, new SimpleMeterRegistry()));
  }
}
