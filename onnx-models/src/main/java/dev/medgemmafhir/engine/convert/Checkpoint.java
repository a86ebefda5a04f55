package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * A Hugging Face checkpoint directory: {@code config.json} plus one {@code model.safetensors} or
 * shards listed by {@code model.safetensors.index.json}. Tensor names are normalised to one form
 * whichever naming the checkpoint uses: {@code text.*} for the language model
 * ({@code language_model.model.*} as released, {@code model.language_model.*} as newer
 * transformers save fine-tunes, {@code model.*} for text-only checkpoints), {@code vision.*} for
 * SigLIP, {@code projector.*} for the multimodal projector, {@code lm_head.weight} when untied.
 */
public final class Checkpoint implements AutoCloseable {

    static final String INDEX = "model.safetensors.index.json";
    static final String SINGLE = "model.safetensors";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[][] PREFIXES = {
            {"language_model.model.", "text."},
            {"model.language_model.", "text."},
            {"vision_tower.vision_model.", "vision."},
            {"model.vision_tower.vision_model.", "vision."},
            {"multi_modal_projector.", "projector."},
            {"model.multi_modal_projector.", "projector."},
            {"language_model.lm_head.", "lm_head."},
            {"lm_head.", "lm_head."},
            {"model.", "text."},
    };

    private final Path dir;
    private final List<SafetensorsFile> files;
    private final Map<String, SafetensorsFile.Tensor> tensors;

    private Checkpoint(Path dir, List<SafetensorsFile> files, Map<String, SafetensorsFile.Tensor> tensors) {
        this.dir = dir;
        this.files = files;
        this.tensors = tensors;
    }

    public static Checkpoint open(Path dir) {
        Path index = dir.resolve(INDEX);
        List<String> shardNames = new ArrayList<>();
        Map<String, String> weightMap = new LinkedHashMap<>();
        if (Files.isRegularFile(index)) {
            JsonNode map = readJson(index).path("weight_map");
            if (!map.isObject() || map.isEmpty()) {
                throw ConversionException.at(index, "no 'weight_map'");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                weightMap.put(e.getKey(), e.getValue().asText());
            }
            shardNames.addAll(new TreeSet<>(weightMap.values()));
        } else if (Files.isRegularFile(dir.resolve(SINGLE))) {
            shardNames.add(SINGLE);
        } else {
            throw ConversionException.at(dir.resolve(SINGLE), "missing (neither it nor " + INDEX + " is in the checkpoint)");
        }
        List<SafetensorsFile> files = new ArrayList<>();
        Map<String, SafetensorsFile.Tensor> tensors = new LinkedHashMap<>();
        try {
            for (String shard : shardNames) {
                Path file = dir.resolve(shard).normalize();
                if (!file.startsWith(dir.normalize()) || !Files.isRegularFile(file)) {
                    throw ConversionException.at(file, "missing shard (listed in " + INDEX + ")");
                }
                SafetensorsFile f = SafetensorsFile.open(file);
                files.add(f);
                for (SafetensorsFile.Tensor t : f.tensors().values()) {
                    if (!weightMap.isEmpty() && !shard.equals(weightMap.get(t.name()))) {
                        continue;
                    }
                    String name = normalise(t.name());
                    if (tensors.put(name, t) != null) {
                        throw ConversionException.at(file, "tensor " + t.name() + " appears twice under two namings");
                    }
                }
            }
            for (Map.Entry<String, String> e : weightMap.entrySet()) {
                if (!tensors.containsKey(normalise(e.getKey()))) {
                    throw ConversionException.at(dir.resolve(e.getValue()), "lacks tensor " + e.getKey() + " that " + INDEX + " places there");
                }
            }
        } catch (RuntimeException e) {
            files.forEach(SafetensorsFile::close);
            throw e;
        }
        return new Checkpoint(dir, files, tensors);
    }

    static String normalise(String name) {
        for (String[] p : PREFIXES) {
            if (name.startsWith(p[0])) {
                return p[1] + name.substring(p[0].length());
            }
        }
        return name;
    }

    static JsonNode readJson(Path file) {
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw ConversionException.at(file, "unreadable JSON: " + e.getMessage());
        }
    }

    public Path dir() {
        return dir;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public Map<String, SafetensorsFile.Tensor> tensors() {
        return tensors;
    }

    /** The tensor under its normalised name, checked against the shape the config implies. */
    public SafetensorsFile.Tensor tensor(String name, long... expectedShape) {
        SafetensorsFile.Tensor t = tensors.get(name);
        if (t == null) {
            throw ConversionException.at(dir, "the checkpoint lacks tensor " + name
                    + " that config.json implies (text. / vision. / projector. stand for the language model, SigLIP and projector prefixes)");
        }
        if (!java.util.Arrays.equals(t.shape(), expectedShape)) {
            throw ConversionException.at(t.file().path(), "tensor " + t.name() + " has shape " + java.util.Arrays.toString(t.shape())
                    + " but config.json implies " + java.util.Arrays.toString(expectedShape));
        }
        return t;
    }

    /** The stored dtype most tensors share (what the original runs in). */
    public SafetensorsFile.DType dominantDType() {
        Map<SafetensorsFile.DType, Long> bytes = new LinkedHashMap<>();
        for (SafetensorsFile.Tensor t : tensors.values()) {
            bytes.merge(t.dtype(), t.length(), Long::sum);
        }
        return bytes.entrySet().stream().max(Map.Entry.comparingByValue()).map(Map.Entry::getKey).orElse(SafetensorsFile.DType.F32);
    }

    public List<Path> weightFiles() {
        return files.stream().map(SafetensorsFile::path).toList();
    }

    @Override
    public void close() {
        files.forEach(SafetensorsFile::close);
    }
}
