package dev.medgemmafhir.engine.model;

import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.TensorInfo;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A graph's inputs and outputs as text ({@code FLOAT [batch_size, sequence_length, 2560]}), for
 * {@code inspect} and error messages.
 *
 * @param file the graph file
 * @param inputs input name -> type and dims
 * @param outputs output name -> type and dims
 */
public record GraphInfo(Path file, Map<String, String> inputs, Map<String, String> outputs) {

    public static GraphInfo of(Path file, OrtSession session) {
        try {
            return new GraphInfo(file, describe(session.getInputInfo()), describe(session.getOutputInfo()));
        } catch (OrtException e) {
            throw new ModelLoadException(file + ": cannot read graph inputs/outputs: " + e.getMessage(), e);
        }
    }

    private static Map<String, String> describe(Map<String, NodeInfo> nodes) {
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, NodeInfo> e : nodes.entrySet()) {
            if (e.getValue().getInfo() instanceof TensorInfo t) {
                long[] shape = t.getShape();
                String[] names = t.getDimensionNames();
                StringBuilder s = new StringBuilder(t.type.toString()).append(" [");
                for (int i = 0; i < shape.length; i++) {
                    if (i > 0) {
                        s.append(", ");
                    }
                    s.append(shape[i] >= 0 ? Long.toString(shape[i]) : (names != null && i < names.length && !names[i].isEmpty() ? names[i] : "?"));
                }
                out.put(e.getKey(), s.append(']').toString());
            } else {
                out.put(e.getKey(), e.getValue().getInfo().toString());
            }
        }
        return out;
    }
}
