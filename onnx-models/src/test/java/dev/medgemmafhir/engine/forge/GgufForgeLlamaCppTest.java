package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The GGUF forge writes files that llama.cpp (node-llama-cpp's prebuilt CPU build) loads as Gemma 3
 * and generates from: the metadata llama.cpp reports, the tensor names, shapes and types that
 * node-llama-cpp's own GGUF reader finds, and greedy tokens that depend on the weights.
 */
class GgufForgeLlamaCppTest {

    private static final int NEW_TOKENS = 8;
    private static final List<Integer> PROMPT = List.of(2, 300, 301, 302, 303, 350, 400);

    @TempDir
    static Path dir;

    @BeforeAll
    static void installed() {
        LlamaCpp.requireInstalled();
    }

    @Test
    void q4_0WithTheTiedHeadInQ8_0LoadsAndGenerates() throws Exception {
        ForgeDims dims = ForgeDims.tiny();
        Path file = dir.resolve("tiny-q4_0.gguf");
        GgufForge.forge(file, dims, GgufForge.Mix.Q4_0, 512, 1);

        JsonNode out = generate(file, PROMPT);
        assertLoadedAs(out, dims, 2);
        Map<String, Integer> types = types(out, dims);
        // 64-wide rows do not fit Q6_K's 256-element blocks: llama-quantize falls back to Q8_0 for the tied head.
        assertEquals(8, types.get("token_embd.weight"));
        for (int i = 0; i < dims.layers(); i++) {
            for (String linear : List.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")) {
                assertEquals(2, types.get("blk." + i + "." + linear + ".weight"), linear + " of layer " + i + " is Q4_0");
            }
            assertEquals(0, types.get("blk." + i + ".post_ffw_norm.weight"), "norms stay F32");
        }
        assertGenerated(out, dims);
        assertEquals(ids(out), ids(generate(file, PROMPT)), "greedy decoding of one file is repeatable");
    }

    @Test
    void q4_K_MFollowsLlamaQuantizesMixAndGenerates() throws Exception {
        ForgeDims dims = GgufForge.tinyQ4km().withLayers(8);
        Path file = dir.resolve("tiny-q4_k_m.gguf");
        GgufForge.forge(file, dims, GgufForge.Mix.Q4_K_M, dims.maxPositions(), 1);

        JsonNode out = generate(file, PROMPT);
        assertLoadedAs(out, dims, 15);
        Map<String, Integer> types = types(out, dims);
        assertEquals(14, types.get("token_embd.weight"), "the tied head is Q6_K");
        // use_more_bits over 8 layers: layer 0 (first eighth), 3 and 6 (every third after it), 7 (last eighth).
        List<Integer> moreBits = List.of(0, 3, 6, 7);
        for (int i = 0; i < dims.layers(); i++) {
            int expected = moreBits.contains(i) ? 14 : 12;
            assertEquals(expected, types.get("blk." + i + ".attn_v.weight"), "attn_v of layer " + i);
            assertEquals(expected, types.get("blk." + i + ".ffn_down.weight"), "ffn_down of layer " + i);
            assertEquals(12, types.get("blk." + i + ".attn_q.weight"), "attn_q of layer " + i + " is Q4_K");
            assertEquals(12, types.get("blk." + i + ".ffn_up.weight"), "ffn_up of layer " + i + " is Q4_K");
        }
        assertGenerated(out, dims);
    }

    @Test
    void theTokensDependOnTheWeights() throws Exception {
        ForgeDims dims = ForgeDims.tiny();
        Path a = dir.resolve("seed-1.gguf");
        Path b = dir.resolve("seed-2.gguf");
        GgufForge.forge(a, dims, GgufForge.Mix.Q4_0, 512, 1);
        GgufForge.forge(b, dims, GgufForge.Mix.Q4_0, 512, 2);
        List<Integer> prompt = List.of(2, 290, 310, 333, 291, 400, 512, 600);
        assertNotEquals(ids(generate(a, prompt)), ids(generate(b, prompt)), "other random weights, other greedy tokens");
    }

    /** compare-llamacpp.sh's batched mode: every level reported, with steps that ran all of its sequences. */
    @Test
    void theConcurrencyModeReportsEachLevelsBatchedDecode() throws Exception {
        ForgeDims dims = ForgeDims.tiny();
        Path file = dir.resolve("batched-q4_0.gguf");
        GgufForge.forge(file, dims, GgufForge.Mix.Q4_0, 512, 1);
        Map<String, Object> request = new HashMap<>();
        request.put("mode", "concurrency");
        request.put("model", file.toAbsolutePath().toString());
        request.put("prompt_length", 16);
        request.put("decode_tokens", 12);
        request.put("threads", 1);
        request.put("levels", List.of(1, 3));
        JsonNode levels = LlamaCpp.run(request).get("levels");
        assertEquals(2, levels.size());
        for (int i = 0; i < 2; i++) {
            JsonNode level = levels.get(i);
            int n = i == 0 ? 1 : 3;
            assertEquals(n, level.get("concurrency").asInt());
            assertEquals(16, level.get("prompt_tokens").asInt());
            assertTrue(level.get("full_batch_tokens").asInt() >= n, level.toString());
            assertTrue(level.get("full_batch_tokens").asInt() <= n * 11, "at most the tokens after each first: " + level);
            assertTrue(level.get("decode_tokens_per_s").asDouble() > 0, level.toString());
            assertTrue(level.get("end_to_end_tokens_per_s").asDouble() > 0, level.toString());
        }
    }

    private static JsonNode generate(Path file, List<Integer> prompt) {
        Map<String, Object> request = new HashMap<>();
        request.put("mode", "generate");
        request.put("model", file.toAbsolutePath().toString());
        request.put("prompt_token_ids", prompt);
        request.put("max_new_tokens", NEW_TOKENS);
        request.put("threads", 1);
        return LlamaCpp.run(request);
    }

    private static void assertLoadedAs(JsonNode out, ForgeDims dims, int fileType) {
        assertEquals("gemma3", out.get("architecture").asText());
        assertEquals(fileType, out.get("file_type").asInt());
        assertEquals(dims.vocab(), out.get("n_vocab").asInt());
        assertEquals(dims.layers(), out.get("block_count").asInt());
        assertEquals(dims.hidden(), out.get("embedding_length").asInt());
        assertEquals(dims.maxPositions(), out.get("train_context_size").asInt());
    }

    private static Map<String, Integer> types(JsonNode out, ForgeDims dims) {
        Map<String, Integer> types = new HashMap<>();
        for (JsonNode t : out.get("tensors")) {
            types.put(t.get("name").asText(), t.get("ggml_type").asInt());
            if (t.get("name").asText().equals("blk.0.ffn_down.weight")) {
                assertEquals(dims.intermediate(), t.get("dims").get(0).asInt(), "ffn_down rows are the MLP width");
                assertEquals(dims.hidden(), t.get("dims").get(1).asInt());
            }
        }
        assertEquals(2 + 13 * dims.layers(), types.size(), "token_embd, output_norm and 13 tensors per layer");
        return types;
    }

    private static void assertGenerated(JsonNode out, ForgeDims dims) {
        List<Integer> ids = ids(out);
        assertEquals(NEW_TOKENS, ids.size());
        for (int id : ids) {
            assertTrue(id >= 0 && id < dims.vocab(), "token id " + id + " outside the vocabulary");
        }
    }

    private static List<Integer> ids(JsonNode out) {
        List<Integer> ids = new ArrayList<>();
        out.get("generated_token_ids").forEach(n -> ids.add(n.asInt()));
        return ids;
    }
}
