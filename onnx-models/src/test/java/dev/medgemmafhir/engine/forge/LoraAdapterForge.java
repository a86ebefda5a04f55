package dev.medgemmafhir.engine.forge;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Forges a PEFT LoRA adapter for a forged text checkpoint as Hugging Face's tools save one
 * ({@code adapter_config.json}, {@code adapter_model.safetensors} in fp32 with
 * {@code base_model.model.<module>.lora_A/B.weight} keys), and returns the checkpoint's weights
 * with the adapter merged by the textbook formula {@code W + alpha / r * B A}, computed here
 * independently of the converter, for the reference forward pass.
 */
public final class LoraAdapterForge {

    private static final ObjectMapper JSON = new ObjectMapper();

    private LoraAdapterForge() {
    }

    /** Writes the adapter into {@code dir}; returns {@code base} with merged weights. */
    public static CheckpointForge.Forged forge(Path dir, CheckpointForge.Forged base, int rank, double alpha, List<String> targets,
                                               long seed) {
        if (base.imageText()) {
            throw new IllegalArgumentException("this forge adapts text-only checkpoints");
        }
        try {
            Files.createDirectories(dir);
            Map<String, Object> config = new LinkedHashMap<>();
            config.put("peft_type", "LORA");
            config.put("task_type", "CAUSAL_LM");
            config.put("base_model_name_or_path", "forged/gemma3-text");
            config.put("r", rank);
            config.put("lora_alpha", alpha);
            config.put("lora_dropout", 0.05);
            config.put("target_modules", targets);
            config.put("bias", "none");
            config.put("fan_in_fan_out", false);
            config.put("use_rslora", false);
            config.put("use_dora", false);
            JSON.writeValue(dir.resolve("adapter_config.json").toFile(), config);

            Random random = new Random(seed);
            Map<String, float[]> merged = new LinkedHashMap<>(base.weights());
            Map<String, float[]> tensors = new LinkedHashMap<>();
            Map<String, long[]> shapes = new LinkedHashMap<>();
            for (String name : base.weights().keySet()) {
                String module = name.substring(0, name.length() - ".weight".length());
                String leaf = module.substring(module.lastIndexOf('.') + 1);
                if (!name.endsWith(".weight") || !targets.contains(leaf)) {
                    continue;
                }
                float[] w = base.weights().get(name);
                int in = inputWidth(base.shape(), leaf);
                int out = w.length / in;
                float[] a = new float[rank * in];
                float[] b = new float[out * rank];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (float) (random.nextGaussian() / Math.sqrt(in));
                }
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) (random.nextGaussian() * 0.2);
                }
                String key = "base_model.model." + CheckpointForge.diskName(module, false, CheckpointForge.Naming.RELEASED);
                tensors.put(key + ".lora_A.weight", a);
                shapes.put(key + ".lora_A.weight", new long[] {rank, in});
                tensors.put(key + ".lora_B.weight", b);
                shapes.put(key + ".lora_B.weight", new long[] {out, rank});
                float[] m = w.clone();
                double scale = alpha / rank;
                for (int o = 0; o < out; o++) {
                    for (int i = 0; i < in; i++) {
                        double delta = 0;
                        for (int r = 0; r < rank; r++) {
                            delta += (double) b[o * rank + r] * a[r * in + i];
                        }
                        m[o * in + i] = (float) (w[o * in + i] + scale * delta);
                    }
                }
                merged.put(name, m);
            }
            writeF32(dir.resolve("adapter_model.safetensors"), tensors, shapes);
            return new CheckpointForge.Forged(base.dir(), base.shape(), false, merged, base.tokens());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int inputWidth(CheckpointForge.Shape s, String leaf) {
        return switch (leaf) {
            case "o_proj" -> s.heads() * s.headDim();
            case "down_proj" -> s.intermediate();
            default -> s.hidden();
        };
    }

    private static void writeF32(Path file, Map<String, float[]> tensors, Map<String, long[]> shapes) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        long offset = 0;
        for (Map.Entry<String, float[]> e : tensors.entrySet()) {
            long bytes = e.getValue().length * 4L;
            header.put(e.getKey(), Map.of("dtype", "F32", "shape", shapes.get(e.getKey()), "data_offsets", List.of(offset, offset + bytes)));
            offset += bytes;
        }
        byte[] json = JSON.writeValueAsBytes(header);
        ByteBuffer out = ByteBuffer.allocate((int) (8 + json.length + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json);
        for (float[] values : tensors.values()) {
            for (float v : values) {
                out.putFloat(v);
            }
        }
        Files.write(file, out.array());
    }
}
