package dev.medgemmafhir.engine.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A small JSON config file of a model directory, read with errors that name the file. */
public final class JsonFile {

    private static final ObjectMapper MAPPER = new ObjectMapper();

    private final Path dir;
    private final Path path;
    private final JsonNode root;

    private JsonFile(Path dir, Path path, JsonNode root) {
        this.dir = dir;
        this.path = path;
        this.root = root;
    }

    /** Reads {@code name} in {@code dir}; fails naming the file when it is absent or not a JSON object. */
    public static JsonFile required(Path dir, String name) {
        Path p = dir.resolve(name);
        if (!Files.isRegularFile(p)) {
            throw ModelLoadException.at(dir, p, "missing file");
        }
        return read(dir, p);
    }

    /** Reads {@code name} in {@code dir} when present, otherwise an empty object. */
    public static JsonFile optional(Path dir, String name) {
        Path p = dir.resolve(name);
        return Files.isRegularFile(p) ? read(dir, p) : new JsonFile(dir, p, MAPPER.createObjectNode());
    }

    private static JsonFile read(Path dir, Path p) {
        try {
            JsonNode node = MAPPER.readTree(p.toFile());
            if (node == null || !node.isObject()) {
                throw ModelLoadException.at(dir, p, "not a JSON object");
            }
            return new JsonFile(dir, p, node);
        } catch (IOException e) {
            throw ModelLoadException.at(dir, p, "not valid JSON: " + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()), e);
        }
    }

    public boolean exists() {
        return Files.isRegularFile(path);
    }

    public Path path() {
        return path;
    }

    public JsonNode root() {
        return root;
    }

    /** The node at a dotted path ({@code text_config.num_hidden_layers}), or a missing node. */
    public JsonNode at(String dotted) {
        JsonNode n = root;
        for (String part : dotted.split("\\.")) {
            n = n.path(part);
        }
        return n == null ? MissingNode.getInstance() : n;
    }

    /** An integer at {@code dotted}, null when absent; fails naming the file when it is not an integer. */
    public Integer integer(String dotted) {
        JsonNode n = at(dotted);
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        if (!n.canConvertToInt() || !n.isIntegralNumber()) {
            throw problem("'" + dotted + "' should be an integer, is " + n);
        }
        return n.intValue();
    }

    public Double number(String dotted) {
        JsonNode n = at(dotted);
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        if (!n.isNumber()) {
            throw problem("'" + dotted + "' should be a number, is " + n);
        }
        return n.doubleValue();
    }

    public String text(String dotted) {
        JsonNode n = at(dotted);
        if (n.isMissingNode() || n.isNull()) {
            return null;
        }
        if (n.isTextual()) {
            return n.textValue();
        }
        // tokenizer_config.json writes special tokens either as "<bos>" or as {"content": "<bos>", ...}
        if (n.isObject() && n.path("content").isTextual()) {
            return n.path("content").textValue();
        }
        throw problem("'" + dotted + "' should be a string, is " + n);
    }

    /** An integer or an array of integers at {@code dotted} (as eos_token_id is written), empty when absent. */
    public List<Integer> integers(String dotted) {
        JsonNode n = at(dotted);
        List<Integer> out = new ArrayList<>();
        if (n.isMissingNode() || n.isNull()) {
            return out;
        }
        if (n.isIntegralNumber()) {
            out.add(n.intValue());
            return out;
        }
        if (n.isArray()) {
            for (JsonNode e : n) {
                if (!e.isIntegralNumber()) {
                    throw problem("'" + dotted + "' should hold integers, has " + e);
                }
                out.add(e.intValue());
            }
            return out;
        }
        throw problem("'" + dotted + "' should be an integer or a list of integers, is " + n);
    }

    public List<Double> numbers(String dotted) {
        JsonNode n = at(dotted);
        List<Double> out = new ArrayList<>();
        if (n.isNumber()) {
            out.add(n.doubleValue());
        } else if (n.isArray()) {
            for (JsonNode e : n) {
                if (!e.isNumber()) {
                    throw problem("'" + dotted + "' should hold numbers, has " + e);
                }
                out.add(e.doubleValue());
            }
        } else if (!n.isMissingNode() && !n.isNull()) {
            throw problem("'" + dotted + "' should be a number or a list of numbers, is " + n);
        }
        return out;
    }

    public ModelLoadException problem(String problem) {
        return ModelLoadException.at(dir, path, problem);
    }
}
