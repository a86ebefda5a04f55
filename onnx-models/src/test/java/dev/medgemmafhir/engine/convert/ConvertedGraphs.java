package dev.medgemmafhir.engine.convert;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;

import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Runs a converted directory's graphs straight through ONNX Runtime to read what the engine does
 * not expose: the logits of every prompt position (one prefill, empty cache) and image features.
 */
final class ConvertedGraphs implements AutoCloseable {

    private final OrtEnvironment env = OrtEnvironment.getEnvironment();
    private final OrtSession decoder;
    private final OrtSession embed;
    private final OrtSession vision;
    private final int layers;
    private final int kvHeads;
    private final int headDim;

    ConvertedGraphs(Path dir, String suffix, boolean imageText, int layers, int kvHeads, int headDim) throws OrtException {
        OrtSession.SessionOptions options = new OrtSession.SessionOptions();
        Path onnx = dir.resolve("onnx");
        this.decoder = env.createSession(onnx.resolve((imageText ? "decoder_model_merged" : "model") + suffix + ".onnx").toString(), options);
        this.embed = imageText ? env.createSession(onnx.resolve("embed_tokens" + suffix + ".onnx").toString(), options) : null;
        this.vision = imageText ? env.createSession(onnx.resolve("vision_encoder" + suffix + ".onnx").toString(), options) : null;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
    }

    /** image_features [tokens][hidden] of one image given as normalised pixels [3][H][W]. */
    float[][] imageFeatures(double[][][] pixels) throws OrtException {
        int h = pixels[0].length;
        int w = pixels[0][0].length;
        float[] flat = new float[3 * h * w];
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    flat[(c * h + y) * w + x] = (float) pixels[c][y][x];
                }
            }
        }
        try (OnnxTensor px = OnnxTensor.createTensor(env, FloatBuffer.wrap(flat), new long[] {1, 3, h, w});
             OrtSession.Result r = vision.run(Map.of("pixel_values", px))) {
            return ((float[][][]) r.get(0).getValue())[0];
        }
    }

    /** Logits [position][vocab] of a prefill of {@code ids} (positions from 1, as the engine numbers them). */
    float[][] prefillLogits(long[] ids, int imageToken, float[][] imageFeatures) throws OrtException {
        return prefillLogits(ids, imageToken, imageFeatures, false);
    }

    /** As above; with {@code markImages} the attention mask marks image tokens with 2, as the engine does. */
    float[][] prefillLogits(long[] ids, int imageToken, float[][] imageFeatures, boolean markImages) throws OrtException {
        return run(ids, imageToken, imageFeatures, markImages, 0);
    }

    /**
     * The last position's logits of a prefill of {@code ids}: what both the standard graph (asked
     * for one row) and the fused graph (which returns no other) compute.
     */
    float[] lastLogits(long[] ids, int imageToken, float[][] imageFeatures, boolean markImages) throws OrtException {
        float[][] rows = run(ids, imageToken, imageFeatures, markImages, 1);
        return rows[rows.length - 1];
    }

    private float[][] run(long[] ids, int imageToken, float[][] imageFeatures, boolean markImages, long keep) throws OrtException {
        Map<String, OnnxTensor> inputs = new HashMap<>();
        try {
            if (decoder.getInputNames().contains("num_logits_to_keep")) {
                inputs.put("num_logits_to_keep", OnnxTensor.createTensor(env, keep));
            }
            OnnxTensor idTensor = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), new long[] {1, ids.length});
            if (embed == null) {
                inputs.put("input_ids", idTensor);
            } else {
                float[][] rows;
                try (idTensor; OrtSession.Result r = embed.run(Map.of("input_ids", idTensor))) {
                    rows = ((float[][][]) r.get(0).getValue())[0];
                }
                int f = 0;
                for (int i = 0; i < ids.length; i++) {
                    if (ids[i] == imageToken && imageFeatures != null && f < imageFeatures.length) {
                        rows[i] = imageFeatures[f++];
                    }
                }
                inputs.put("inputs_embeds", OnnxTensor.createTensor(env, new float[][][] {rows}));
            }
            long[] positions = new long[ids.length];
            long[] mask = new long[ids.length];
            for (int i = 0; i < ids.length; i++) {
                positions[i] = i + 1;
                mask[i] = markImages && ids[i] == imageToken ? 2 : 1;
            }
            inputs.put("position_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(positions), new long[] {1, ids.length}));
            inputs.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), new long[] {1, ids.length}));
            long[] empty = {1, kvHeads, 0, headDim};
            for (int i = 0; i < layers; i++) {
                inputs.put("past_key_values." + i + ".key", OnnxTensor.createTensor(env, FloatBuffer.allocate(0), empty));
                inputs.put("past_key_values." + i + ".value", OnnxTensor.createTensor(env, FloatBuffer.allocate(0), empty));
            }
            try (OrtSession.Result r = decoder.run(inputs)) {
                return ((float[][][]) r.get("logits").orElseThrow().getValue())[0];
            }
        } finally {
            inputs.values().forEach(OnnxTensor::close);
        }
    }

    @Override
    public void close() throws OrtException {
        decoder.close();
        if (embed != null) {
            embed.close();
            vision.close();
        }
    }
}
