package dev.medgemmafhir.engine.forge;

import dev.medgemmafhir.engine.convert.OnnxGraph;
import dev.medgemmafhir.engine.convert.TensorData;

import java.io.IOException;
import java.nio.file.Path;

import static dev.medgemmafhir.engine.convert.TensorData.FLOAT;
import static dev.medgemmafhir.engine.convert.TensorData.INT64;

/**
 * Layout A's {@code embed_tokens}: {@code input_ids [batch_size, sequence_length]} ->
 * {@code inputs_embeds [batch_size, sequence_length, hidden]}, Gemma's table lookup times sqrt(hidden).
 * The table stays fp32 in every variant, as in the real q4 exports.
 */
final class EmbedTokensGraph {

    private EmbedTokensGraph() {
    }

    static void write(Path file, Path externalData, ForgedWeights w) throws IOException {
        try (OnnxGraph g = new OnnxGraph("forged_gemma3_embed_tokens", externalData)) {
            String ids = g.input("input_ids", INT64, DecoderGraph.BATCH, DecoderGraph.SEQUENCE);
            String embeds = scaledEmbedding(g, w, ids);
            g.opNamed("Identity", "inputs_embeds", new String[] {embeds});
            g.output("inputs_embeds", FLOAT, DecoderGraph.BATCH, DecoderGraph.SEQUENCE, w.dims().hidden());
            g.save(file, "Forged random-weight Gemma 3 token embedding for tests; not a trained model.");
        }
    }

    /** Gather(E, ids) * sqrt(hidden), shared with the text-only decoder so both layouts embed alike. */
    static String scaledEmbedding(OnnxGraph g, ForgedWeights w, String ids) throws IOException {
        String rows = g.op("Gather", new String[] {g.initializer("model.embed_tokens.weight", w.embedTokens()), ids});
        return g.op("Mul", new String[] {rows, g.floatScalar((float) Math.sqrt(w.dims().hidden()))});
    }
}
