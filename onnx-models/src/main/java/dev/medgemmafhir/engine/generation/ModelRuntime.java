package dev.medgemmafhir.engine.generation;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import dev.medgemmafhir.engine.prompt.PromptTokenizer;

/**
 * The shared, read-only parts of a loaded model that every {@link Generation} uses. ONNX Runtime
 * sessions and the tokenizer are safe to use from many threads at once.
 *
 * @param env the ONNX Runtime environment
 * @param decoder the decoder session
 * @param decoderSignature its inputs and outputs
 * @param embedder the token-embedding session, null when the decoder takes ids
 * @param embedderSignature its inputs and outputs, null with it
 * @param vision the vision encoder session, null for text-only models
 * @param visionSignature its inputs and outputs, null with it
 * @param firstPosition position id of the first token: 1 for transformers.js exports (as transformers.js
 *     numbers Gemma 3 positions), 0 for onnxruntime-genai builds (as genai does)
 * @param imageTokenId id the image features replace, -1 for text-only models
 * @param eosIds ids that end a generation
 * @param contextLength maximum prompt + generated tokens
 * @param tokenizer the model's tokenizer
 * @param thinkStart id of {@code <unused94>} (start of a thinking block), -1 when the vocabulary has none
 * @param thinkEnd id of {@code <unused95>}, -1 when absent
 * @param defaultTopK generation_config.json top_k, null when absent
 * @param defaultTopP generation_config.json top_p, null when absent
 * @param options runtime options (prefill chunking)
 * @param executionProvider the provider the sessions run on
 */
public record ModelRuntime(
        OrtEnvironment env,
        OrtSession decoder,
        GraphSignatures.Decoder decoderSignature,
        OrtSession embedder,
        GraphSignatures.Embedder embedderSignature,
        OrtSession vision,
        GraphSignatures.Vision visionSignature,
        int firstPosition,
        int imageTokenId,
        int[] eosIds,
        int contextLength,
        PromptTokenizer tokenizer,
        int thinkStart,
        int thinkEnd,
        Integer defaultTopK,
        Double defaultTopP,
        RuntimeOptions options,
        String executionProvider) {

    boolean isEos(int id) {
        for (int e : eosIds) {
            if (e == id) {
                return true;
            }
        }
        return false;
    }
}
