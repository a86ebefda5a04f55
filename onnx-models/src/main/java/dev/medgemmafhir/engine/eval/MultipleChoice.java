package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Multiple-choice medical questions from a JSONL file in MedQA's format (one object per line:
 * {@code question}, {@code options} as {@code {"A": "...", ...}}, {@code answer_idx}), asked
 * greedily of a local model; the first option letter in the answer is its choice. The data is the
 * user's (MedQA is not shipped).
 */
public final class MultipleChoice {

    /** One question. */
    public record Item(String question, Map<String, String> options, String answer) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    static final String INSTRUCTION = "Answer with the letter of the correct option only.";

    private MultipleChoice() {}

    public static List<Item> read(Path jsonl) throws IOException {
        List<Item> items = new ArrayList<>();
        int line = 0;
        for (String text : Files.readAllLines(jsonl, StandardCharsets.UTF_8)) {
            line++;
            if (text.isBlank()) {
                continue;
            }
            JsonNode o = JSON.readTree(text);
            Map<String, String> options = new TreeMap<>();
            o.path("options").fields().forEachRemaining(e -> options.put(e.getKey(), e.getValue().asText()));
            String answer = o.path("answer_idx").asText("");
            if (!o.hasNonNull("question") || options.isEmpty() || !options.containsKey(answer)) {
                throw new IOException(jsonl + " line " + line + ": needs question, options and an answer_idx among the options");
            }
            items.add(new Item(o.path("question").asText(), options, answer));
        }
        return items;
    }

    public static GenerationRequest prompt(Item item, int maxTokens) {
        StringBuilder user = new StringBuilder(item.question()).append("\n\n");
        item.options().forEach((k, v) -> user.append(k).append(". ").append(v).append('\n'));
        user.append('\n').append(INSTRUCTION);
        return GenerationRequest.of(null, user.toString(), GenerationParams.greedy(maxTokens));
    }

    /** The option letter the answer chose, or null. */
    public static String choice(String answer, Map<String, String> options) {
        Matcher m = Pattern.compile("\\b([A-Z])\\b").matcher(answer);
        while (m.find()) {
            if (options.containsKey(m.group(1))) {
                return m.group(1);
            }
        }
        return null;
    }

    /** Accuracy of {@code engine} on the items, one value per item (no patient groups: the questions have none). */
    public static Scores run(Engine engine, List<Item> items, int maxTokens) {
        Scores accuracy = new Scores("multiple-choice accuracy", "share of questions whose first option letter is the answer");
        for (Item item : items) {
            String answer = engine.generate(prompt(item, maxTokens)).text();
            accuracy.add(item.answer().equals(choice(answer, item.options())) ? 1 : 0, Demographics.UNKNOWN);
        }
        return accuracy;
    }
}
