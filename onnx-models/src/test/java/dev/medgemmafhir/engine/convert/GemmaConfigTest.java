package dev.medgemmafhir.engine.convert;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json as Google released it: most sizes left to transformers' defaults, which the converter must know. */
class GemmaConfigTest {

    @TempDir
    Path temp;

    private GemmaConfig read(String json) throws IOException {
        Path file = temp.resolve("config.json");
        Files.writeString(file, json);
        return GemmaConfig.read(file);
    }

    @Test
    void theReleasedMedGemma4bConfigResolvesToTheRealSizes() throws IOException {
        // The shape of google/medgemma-4b-it's config.json: text_config states only five fields.
        GemmaConfig c = read("""
                {"architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
                 "eos_token_id": [1, 106], "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
                 "model_type": "gemma3",
                 "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                   "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024},
                 "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
                 "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                   "model_type": "siglip_vision_model", "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14,
                   "vision_use_head": false}}
                """);
        GemmaConfig.Text t = c.text();
        assertEquals(8, t.heads());
        assertEquals(4, t.kvHeads());
        assertEquals(256, t.headDim());
        assertEquals(262_208, t.vocab());
        assertEquals(256.0, t.queryPreAttnScalar());
        assertEquals(new GemmaConfig.Rope(1_000_000, 8), t.globalRope());
        assertEquals(new GemmaConfig.Rope(10_000, 1), t.localRope());
        assertNull(t.finalLogitSoftcapping());
        boolean[] sliding = t.slidingLayers();
        for (int i = 0; i < 34; i++) {
            assertEquals((i + 1) % 6 != 0, sliding[i], "layer " + i);
        }
        assertEquals(64, c.vision().patchesPerSide());
        assertEquals(16, c.vision().tokensPerSide());
        assertEquals(1e-6, c.vision().layerNormEps());
    }

    @Test
    void aTextOnlyConfigWithItsOwnAttentionScalarAndLayerTypes() throws IOException {
        GemmaConfig c = read("""
                {"architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "hidden_size": 5376, "head_dim": 128,
                 "num_attention_heads": 32, "num_key_value_heads": 16, "num_hidden_layers": 3, "query_pre_attn_scalar": 168,
                 "layer_types": ["sliding_attention", "full_attention", "sliding_attention"],
                 "rope_parameters": {"full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}}
                """);
        assertEquals(168.0, c.text().queryPreAttnScalar());
        assertArrayEquals(new boolean[] {true, false, true}, c.text().slidingLayers());
        assertEquals(new GemmaConfig.Rope(1_000_000, 8), c.text().globalRope());
        assertNull(c.vision());
    }

    @Test
    void anUnsupportedRopeOrActivationIsNamed() {
        ConversionException rope = assertThrows(ConversionException.class, () -> read("""
                {"architectures": ["Gemma3ForCausalLM"], "rope_scaling": {"rope_type": "yarn", "factor": 4.0}}
                """));
        assertTrue(rope.getMessage().contains("config.json: rope type yarn"), rope.getMessage());
        ConversionException act = assertThrows(ConversionException.class, () -> read("""
                {"architectures": ["Gemma3ForCausalLM"], "hidden_activation": "silu"}
                """));
        assertTrue(act.getMessage().contains("hidden_activation silu"), act.getMessage());
    }
}
