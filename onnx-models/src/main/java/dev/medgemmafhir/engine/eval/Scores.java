package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The values of one metric, each from one item (a summary, a question, a report) of a patient in
 * some groups; summarised overall and per group of each demographic axis, with counts.
 */
public final class Scores {

    /** One measured value and the patient's groups. */
    public record Value(double value, Demographics groups) {}

    /** Mean and count of a set of values. */
    public record Summary(int n, double mean) {}

    private final String name;
    private final String description;
    private final List<Value> values = new ArrayList<>();

    public Scores(String name, String description) {
        this.name = name;
        this.description = description;
    }

    public String name() {
        return name;
    }

    public String description() {
        return description;
    }

    public void add(double value, Demographics groups) {
        values.add(new Value(value, groups));
    }

    public int count() {
        return values.size();
    }

    public Summary overall() {
        return summary(values);
    }

    /** Axis -> group -> summary, groups in name order. */
    public Map<String, Map<String, Summary>> byGroup() {
        Map<String, Map<String, Summary>> out = new LinkedHashMap<>();
        for (String axis : Demographics.AXES) {
            Map<String, List<Value>> groups = new TreeMap<>();
            for (Value v : values) {
                groups.computeIfAbsent(v.groups().byAxis().get(axis), g -> new ArrayList<>()).add(v);
            }
            Map<String, Summary> summaries = new LinkedHashMap<>();
            groups.forEach((g, vs) -> summaries.put(g, summary(vs)));
            out.put(axis, summaries);
        }
        return out;
    }

    private static Summary summary(List<Value> values) {
        return new Summary(values.size(), values.stream().mapToDouble(Value::value).average().orElse(Double.NaN));
    }

    ObjectNode toJson(ObjectMapper json) {
        ObjectNode o = json.createObjectNode();
        o.put("metric", name);
        o.put("description", description);
        put(o.putObject("overall"), overall());
        ObjectNode groups = o.putObject("groups");
        byGroup().forEach((axis, summaries) -> {
            ArrayNode list = groups.putArray(axis);
            summaries.forEach((g, s) -> put(list.addObject().put("group", g), s));
        });
        return o;
    }

    private static void put(ObjectNode o, Summary s) {
        o.put("n", s.n());
        if (Double.isNaN(s.mean())) {
            o.putNull("mean");
        } else {
            o.put("mean", s.mean());
        }
    }
}
