package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A PEFT LoRA adapter ({@code adapter_config.json} + {@code adapter_model.safetensors}, as Hugging
 * Face's fine-tuning tools write it), merged into the base weights while they are converted:
 * {@code W' = W + s * B @ A} with {@code s = lora_alpha / r} ({@code lora_alpha / sqrt(r)} with
 * {@code use_rslora}), for the modules the config targets.
 */
public final class LoraAdapter implements AutoCloseable {

    static final String CONFIG = "adapter_config.json";
    static final String WEIGHTS = "adapter_model.safetensors";

    /** One adapted linear layer: A {@code [r, in]}, B {@code [out, r]}. */
    record Pair(SafetensorsFile.Tensor a, SafetensorsFile.Tensor b) {
    }

    private final Path dir;
    private final SafetensorsFile file;
    private final int rank;
    private final double alpha;
    private final double scale;
    private final List<String> targets;
    private final Map<String, Pair> pairs;

    private LoraAdapter(Path dir, SafetensorsFile file, int rank, double alpha, double scale, List<String> targets,
                        Map<String, Pair> pairs) {
        this.dir = dir;
        this.file = file;
        this.rank = rank;
        this.alpha = alpha;
        this.scale = scale;
        this.targets = targets;
        this.pairs = pairs;
    }

    public static LoraAdapter open(Path dir) {
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw ConversionException.at(configFile, "missing (a PEFT adapter folder holds adapter_config.json)");
        }
        JsonNode c = Checkpoint.readJson(configFile);
        String type = c.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) {
            throw ConversionException.at(configFile, "peft_type " + type + " is not LORA");
        }
        if (c.path("fan_in_fan_out").asBoolean(false)) {
            throw ConversionException.at(configFile, "fan_in_fan_out adapters (Conv1D layers) do not apply to Gemma 3");
        }
        if (c.path("rank_pattern").size() > 0 || c.path("alpha_pattern").size() > 0) {
            throw ConversionException.at(configFile, "per-module rank_pattern / alpha_pattern are not supported");
        }
        if (c.path("use_dora").asBoolean(false)) {
            throw ConversionException.at(configFile, "DoRA adapters are not supported");
        }
        int rank = c.path("r").asInt(0);
        double alpha = c.path("lora_alpha").asDouble(rank);
        if (rank <= 0) {
            throw ConversionException.at(configFile, "no positive rank 'r'");
        }
        double scale = c.path("use_rslora").asBoolean(false) ? alpha / Math.sqrt(rank) : alpha / rank;
        List<String> targets = new ArrayList<>();
        JsonNode t = c.path("target_modules");
        Pattern regex = null;
        if (t.isTextual()) {
            regex = Pattern.compile(t.asText());
            targets.add(t.asText());
        } else {
            t.forEach(n -> targets.add(n.asText()));
        }
        if (targets.isEmpty()) {
            throw ConversionException.at(configFile, "no target_modules");
        }
        Path weights = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(weights)) {
            throw ConversionException.at(weights, "missing");
        }
        SafetensorsFile file = SafetensorsFile.open(weights);
        try {
            Map<String, SafetensorsFile.Tensor> a = new HashMap<>();
            Map<String, SafetensorsFile.Tensor> b = new HashMap<>();
            for (SafetensorsFile.Tensor tensor : file.tensors().values()) {
                String name = tensor.name().replaceFirst("^base_model\\.model\\.", "").replace(".default.", ".");
                if (name.endsWith(".lora_A.weight")) {
                    a.put(name.substring(0, name.length() - ".lora_A.weight".length()), tensor);
                } else if (name.endsWith(".lora_B.weight")) {
                    b.put(name.substring(0, name.length() - ".lora_B.weight".length()), tensor);
                } else {
                    throw ConversionException.at(weights, "tensor " + tensor.name() + " is neither lora_A nor lora_B"
                            + " (adapters that also train whole modules are not supported)");
                }
            }
            Map<String, Pair> pairs = new HashMap<>();
            for (Map.Entry<String, SafetensorsFile.Tensor> e : a.entrySet()) {
                String module = e.getKey();
                SafetensorsFile.Tensor bt = b.remove(module);
                if (bt == null) {
                    throw ConversionException.at(weights, module + " has lora_A but no lora_B");
                }
                String leaf = module.substring(module.lastIndexOf('.') + 1);
                boolean targeted = regex != null ? regex.matcher(module).matches() : targets.contains(leaf) || targets.contains(module);
                if (!targeted) {
                    throw ConversionException.at(weights, module + " is not among target_modules " + targets);
                }
                SafetensorsFile.Tensor at = e.getValue();
                if (at.shape().length != 2 || bt.shape().length != 2 || at.shape()[0] != rank || bt.shape()[1] != rank) {
                    throw ConversionException.at(weights, module + ": lora_A " + java.util.Arrays.toString(at.shape()) + " / lora_B "
                            + java.util.Arrays.toString(bt.shape()) + " do not have rank r = " + rank);
                }
                pairs.put(Checkpoint.normalise(module + ".weight"), new Pair(at, bt));
            }
            if (!b.isEmpty()) {
                throw ConversionException.at(weights, b.keySet().iterator().next() + " has lora_B but no lora_A");
            }
            if (pairs.isEmpty()) {
                throw ConversionException.at(weights, "holds no LoRA weights");
            }
            return new LoraAdapter(dir, file, rank, alpha, scale, List.copyOf(targets), pairs);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    Path dir() {
        return dir;
    }

    int rank() {
        return rank;
    }

    double alpha() {
        return alpha;
    }

    List<String> targets() {
        return targets;
    }

    /** Checks every adapted module exists in the base checkpoint with the adapter's shapes. */
    void checkAgainst(Checkpoint checkpoint) {
        for (Map.Entry<String, Pair> e : pairs.entrySet()) {
            SafetensorsFile.Tensor base = checkpoint.tensors().get(e.getKey());
            Pair p = e.getValue();
            if (base == null || base.shape().length != 2 || base.shape()[0] != p.b().shape()[0] || base.shape()[1] != p.a().shape()[1]) {
                throw ConversionException.at(file.path(), p.a().name() + " does not fit a linear layer of the base checkpoint");
            }
        }
    }

    /** Adds {@code s * (B @ A)[row]} to row {@code row} of the weight {@code name} (normalised), if adapted. */
    void addToRow(String name, int row, float[] values) throws IOException {
        Pair p = pairs.get(name);
        if (p == null) {
            return;
        }
        int in = values.length;
        float[] b = new float[rank];
        p.b().read((long) row * rank, b, 0, rank);
        float[] a = aOf(p);
        for (int r = 0; r < rank; r++) {
            float coefficient = (float) (scale * b[r]);
            for (int i = 0; i < in; i++) {
                values[i] += coefficient * a[r * in + i];
            }
        }
    }

    boolean adapts(String name) {
        return pairs.containsKey(name);
    }

    private final Map<String, float[]> aCache = new HashMap<>();

    private float[] aOf(Pair p) throws IOException {
        float[] a = aCache.get(p.a().name());
        if (a == null) {
            aCache.clear();
            a = p.a().readAll();
            aCache.put(p.a().name(), a);
        }
        return a;
    }

    @Override
    public void close() {
        file.close();
    }
}
