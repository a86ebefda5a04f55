package dev.medgemmafhir.operations.transparency;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import static org.assertj.core.api.Assertions.assertThat;

import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.ModelIdentity;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.engine.replay.RecordedRequest;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Device;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.junit.jupiter.api.Test;

/** What the transparency records add to a draft's transaction, with prompt storage on and off. */
class TransparencyRecordsTest {

  static final GenerationRequest REQUEST = GenerationRequest.of("Be brief.", "Facts: [C1] BP 120/80 mmHg",
      GenerationParams.greedy(32));

  static LoadedModel model() {
    Engine engine = new Engine() {
      @Override
      public GenerationResult generate(GenerationRequest request, TextStreamListener listener, Cancellation cancellation) {
        throw new UnsupportedOperationException();
      }

      @Override
      public int countTokens(String text) {
        return text.length();
      }

      @Override
      public int countPromptTokens(GenerationRequest request) {
        return 1;
      }

      @Override
      public int contextLength() {
        return 1024;
      }

      @Override
      public ModelIdentity identity() {
        return new ModelIdentity("google/medgemma-4b-it", "gemma3", "q4", Optional.empty(), () -> "sha256:ab",
            Optional.of("{\"source\":{\"repository\":\"google/medgemma-4b-it\",\"files\":[{\"path\":\"model.safetensors\",\"sha256\":\"cd\"}]}}"));
      }

      @Override
      public void close() {}
    };
    return new LoadedModel("m", "MedGemma test", engine, new InferenceQueue("m", 1, 1, 1, null));
  }

  record Tx(Bundle bundle, Provenance provenance, Device device) {}

  static Tx transaction(boolean storePrompts, DocumentReference draft) {
    LoadedModel model = model();
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    Device device = model.device();
    tx.addEntry().setResource(device);
    tx.addEntry().setResource(draft);
    Provenance provenance = new Provenance();
    tx.addEntry().setResource(provenance);
    new TransparencyRecords(storePrompts).addTo(tx, model, draft, provenance, REQUEST, null, "summarize-key");
    return new Tx(tx, provenance, device);
  }

  static List<DocumentReference> documents(Bundle tx) {
    return tx.getEntry().stream().map(Bundle.BundleEntryComponent::getResource)
        .filter(DocumentReference.class::isInstance).map(DocumentReference.class::cast).toList();
  }

  static DocumentReference draft() {
    return new DocumentReference().setSubject(new Reference("Patient/7"));
  }

  @Test
  void storesTheExactPromptInThePatientsCompartmentWithTheModelCard() {
    DocumentReference draft = draft();
    Tx tx = transaction(true, draft);
    List<DocumentReference> added = documents(tx.bundle()).stream().filter(d -> d != draft).toList();
    assertThat(added).hasSize(2);
    DocumentReference card = added.get(0);
    DocumentReference prompt = added.get(1);
    assertThat(card.getType().getCodingFirstRep().getCode()).isEqualTo(AiVocabulary.AI_MODEL_CARD);
    assertThat(card.hasSubject()).isFalse();
    assertThat(prompt.getType().getCodingFirstRep().getCode()).isEqualTo(AiVocabulary.AI_INPUT_PROMPT);
    assertThat(prompt.getSubject().getReference()).isEqualTo("Patient/7");
    assertThat(prompt.getIdentifierFirstRep().getValue()).isEqualTo("summarize-key");
    String json = new String(prompt.getContent().get(1).getAttachment().getData(), StandardCharsets.UTF_8);
    assertThat(RecordedRequest.fromJson(json).request()).isEqualTo(REQUEST);
    // Conditional creates: one card per model, one prompt per draft.
    assertThat(tx.bundle().getEntry()).filteredOn(e -> e.getResource() == card).first()
        .satisfies(e -> assertThat(e.getRequest().getIfNoneExist()).startsWith("identifier=urn:medgemma-fhir:model-card|"));
    assertThat(tx.bundle().getEntry()).filteredOn(e -> e.getResource() == prompt).first()
        .satisfies(e -> assertThat(e.getRequest().getIfNoneExist()).isEqualTo("identifier=urn:medgemma-fhir:prompt|summarize-key"));
    assertThat(tx.provenance().getEntity()).hasSize(2).allSatisfy(e ->
        assertThat(e.getRole()).isEqualTo(Provenance.ProvenanceEntityRole.DERIVATION));
    assertThat(tx.device().getExtensionByUrl(AiVocabulary.MODEL_CARD_EXTENSION)).isNotNull();
    // The Device names the official weights' sha256 from conversion.json.
    assertThat(tx.device().getVersion()).anyMatch(v -> "cd".equals(v.getValue()));
  }

  @Test
  void promptStorageOffKeepsTheModelCardButWritesNoPrompt() {
    DocumentReference draft = draft();
    Tx tx = transaction(false, draft);
    assertThat(documents(tx.bundle()).stream().filter(d -> d != draft).toList()).hasSize(1)
        .allSatisfy(d -> assertThat(d.getType().getCodingFirstRep().getCode()).isEqualTo(AiVocabulary.AI_MODEL_CARD));
    assertThat(tx.provenance().getEntity()).hasSize(1);
  }

  @Test
  void aDraftWithoutAPatientGetsNoPromptOutsideAnyCompartment() {
    DocumentReference draft = new DocumentReference();
    Tx tx = transaction(true, draft);
    assertThat(documents(tx.bundle()).stream().filter(d -> d != draft).toList()).hasSize(1);
  }
}
