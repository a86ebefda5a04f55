package dev.medgemmafhir.engine.pull;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class VariantSelectionTest {

  private static HubFile f(String path) {
    return new HubFile(path, 1, null, null);
  }

  private static Set<String> local(VariantSelection.Result r) {
    return r.files().stream().map(VariantSelection.Selected::localPath).collect(Collectors.toSet());
  }

  @Test
  void q4DoesNotPickQ4f16AndKeepsEveryWeightShard() throws Exception {
    List<HubFile> files = List.of(f("config.json"), f("onnx/model_q4.onnx"), f("onnx/model_q4.onnx_data"),
        f("onnx/model_q4.onnx_data_1"), f("onnx/model_q4f16.onnx"), f("onnx/model_q4f16.onnx_data"),
        f("onnx/model.onnx"), f("model.safetensors"), f("images/example.png"));
    VariantSelection.Result r = VariantSelection.select(files, "q4", null, List.of());
    assertEquals("transformers.js", r.layout());
    assertEquals(Set.of("config.json", "onnx/model_q4.onnx", "onnx/model_q4.onnx_data", "onnx/model_q4.onnx_data_1"),
        local(r));
  }

  @Test
  void q8IsTheQuantizedSuffix() throws Exception {
    List<HubFile> files = List.of(f("onnx/model_quantized.onnx"), f("onnx/model_q4.onnx"));
    assertEquals(Set.of("onnx/model_quantized.onnx"), local(VariantSelection.select(files, "q8", null, List.of())));
  }

  @Test
  void aGenaiFolderIsTakenWholeAndBecomesTheRoot() throws Exception {
    List<HubFile> files = List.of(f("README.md"), f("cuda/genai_config.json"), f("cuda/model.onnx"),
        f("cuda/model.onnx.data"), f("cuda/tokenizer.json"), f("cpu_and_mobile/genai_config.json"),
        f("cpu_and_mobile/model.onnx"));
    VariantSelection.Result r = VariantSelection.select(files, "q4", "cuda/", List.of());
    assertEquals("onnxruntime-genai", r.layout());
    assertEquals(Set.of("genai_config.json", "model.onnx", "model.onnx.data", "tokenizer.json"), local(r));
  }

  @Test
  void genaiVariantsInFoldersAreNamedWhenNoFolderIsChosen() {
    List<HubFile> files = List.of(f("cuda/genai_config.json"), f("cuda/model.onnx"));
    PullException e = assertThrows(PullException.class, () -> VariantSelection.select(files, "q4", null, List.of()));
    assertTrue(e.getMessage().contains("--subfolder"), e.getMessage());
    assertTrue(e.getMessage().contains("cuda/genai_config.json"), e.getMessage());
  }

  @Test
  void includesAddFilesOutsideTheVariant() throws Exception {
    List<HubFile> files = List.of(f("onnx/model_q4.onnx"), f("extra/labels.csv"));
    assertEquals(Set.of("onnx/model_q4.onnx", "extra/labels.csv"),
        local(VariantSelection.select(files, "q4", null, List.of("extra/*.csv"))));
  }

  @Test
  void anUnknownDtypeIsRefused() {
    assertThrows(PullException.class, () -> VariantSelection.select(List.of(f("onnx/model.onnx")), "q3", null, List.of()));
  }
}
