package dev.medgemmafhir.engine.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The eval's results as {@code report.json} and {@code report.html}: one table per metric (overall,
 * then each group of each demographic axis with its count) and an inline SVG bar chart per axis.
 * The HTML loads nothing from the network.
 */
public final class EvalReport {

    /** Always in the report: what the numbers can and cannot say. */
    public static final String CAVEAT = "With the forged (random-weight) test models these numbers are noise: they "
            + "show that the pipeline runs, not how a model performs. With real weights, small groups (n < 30) give "
            + "wide uncertainty; compare groups only where the counts allow it.";

    private static final ObjectMapper JSON = new ObjectMapper();

    private EvalReport() {}

    /** Whether a model name says its weights are forged or random (the project's test models). */
    static boolean forged(List<String> models) {
        return models.stream().anyMatch(m -> m.toLowerCase(Locale.ROOT).matches(".*\\b(forged|random)\\b.*"));
    }

    public static ObjectNode json(String server, List<String> models, List<Scores> metrics, List<String> skipped,
            Map<String, Integer> counts) {
        ObjectNode root = JSON.createObjectNode();
        root.put("generatedAt", Instant.now().toString());
        root.put("server", server);
        ArrayNode m = root.putArray("models");
        models.forEach(m::add);
        root.put("forgedWeights", forged(models));
        root.put("caveat", (forged(models) ? "FORGED WEIGHTS: the numbers below are noise. " : "") + CAVEAT);
        ObjectNode c = root.putObject("counts");
        counts.forEach(c::put);
        ArrayNode list = root.putArray("metrics");
        metrics.forEach(s -> list.add(s.toJson(JSON)));
        ArrayNode sk = root.putArray("skipped");
        skipped.forEach(sk::add);
        return root;
    }

    public static void write(Path dir, ObjectNode report) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("report.json"), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report),
                StandardCharsets.UTF_8);
        Files.writeString(dir.resolve("report.html"), html(report), StandardCharsets.UTF_8);
    }

    static String html(ObjectNode report) {
        StringBuilder h = new StringBuilder("""
                <!doctype html><html lang="en"><head><meta charset="utf-8"><title>medgemma-fhir eval</title>
                <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin:.5em 0}
                td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}td.n{text-align:right}.warn{background:#fff3cd;
                padding:.6em;border:1px solid #e0c36b}figure{margin:.5em 0}</style></head><body>
                <h1>Model evaluation</h1>
                """);
        h.append("<p>Server: ").append(esc(report.path("server").asText())).append("<br>Models: ")
                .append(models(report))
                .append("<br>Generated: ").append(esc(report.path("generatedAt").asText())).append("</p>\n");
        h.append("<p class=\"warn\">").append(esc(report.path("caveat").asText())).append("</p>\n");
        h.append("<h2>Counts</h2><table>");
        report.path("counts").fields().forEachRemaining(e -> h.append("<tr><th>").append(esc(e.getKey()))
                .append("</th><td class=\"n\">").append(e.getValue().asInt()).append("</td></tr>"));
        h.append("</table>\n");
        for (var metric : report.path("metrics")) {
            h.append("<h2>").append(esc(metric.path("metric").asText())).append("</h2><p>")
                    .append(esc(metric.path("description").asText())).append("</p>\n<table><tr><th>group</th><th>n</th><th>mean</th></tr>");
            row(h, "overall", metric.path("overall"));
            metric.path("groups").fields().forEachRemaining(axis -> {
                h.append("<tr><th colspan=\"3\">").append(esc(axis.getKey())).append("</th></tr>");
                axis.getValue().forEach(g -> row(h, g.path("group").asText(), g));
            });
            h.append("</table>\n");
            metric.path("groups").fields().forEachRemaining(axis -> h.append(svg(metric.path("metric").asText(), axis.getKey(), axis.getValue())));
        }
        if (!report.path("skipped").isEmpty()) {
            h.append("<h2>Skipped</h2><ul>");
            report.path("skipped").forEach(s -> h.append("<li>").append(esc(s.asText())).append("</li>"));
            h.append("</ul>");
        }
        return h.append("</body></html>\n").toString();
    }

    private static String models(ObjectNode report) {
        StringBuilder s = new StringBuilder();
        report.path("models").forEach(m -> s.append(s.length() == 0 ? "" : ", ").append(esc(m.asText())));
        return s.toString();
    }

    private static void row(StringBuilder h, String group, com.fasterxml.jackson.databind.JsonNode s) {
        h.append("<tr><td>").append(esc(group)).append("</td><td class=\"n\">").append(s.path("n").asInt())
                .append("</td><td class=\"n\">").append(s.path("mean").isNull() ? "–" : String.format(Locale.ROOT, "%.3f", s.path("mean").asDouble()))
                .append("</td></tr>");
    }

    /** A horizontal bar per group: mean on a 0..1 scale, the count beside it. */
    private static String svg(String metric, String axis, com.fasterxml.jackson.databind.JsonNode groups) {
        int rows = groups.size();
        if (rows == 0) {
            return "";
        }
        int width = 480;
        int bar = 18;
        StringBuilder s = new StringBuilder("<figure><svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" width=\"")
                .append(width).append("\" height=\"").append(rows * (bar + 6) + 24).append("\" aria-label=\"")
                .append(esc(metric + " by " + axis)).append("\">");
        int y = 4;
        for (var g : groups) {
            double mean = g.path("mean").isNull() ? 0 : Math.max(0, Math.min(1, g.path("mean").asDouble()));
            s.append("<text x=\"0\" y=\"").append(y + 13).append("\" font-size=\"12\">").append(esc(g.path("group").asText()))
                    .append("</text><rect x=\"140\" y=\"").append(y).append("\" width=\"").append((int) Math.round(mean * 260))
                    .append("\" height=\"").append(bar).append("\" fill=\"#4a7ab5\"/><text x=\"").append(410).append("\" y=\"")
                    .append(y + 13).append("\" font-size=\"12\">").append(g.path("mean").isNull() ? "–"
                            : String.format(Locale.ROOT, "%.2f", g.path("mean").asDouble())).append(" (n=")
                    .append(g.path("n").asInt()).append(")</text>");
            y += bar + 6;
        }
        s.append("<line x1=\"140\" y1=\"").append(y).append("\" x2=\"400\" y2=\"").append(y).append("\" stroke=\"#888\"/>")
                .append("<text x=\"140\" y=\"").append(y + 14).append("\" font-size=\"10\">0</text><text x=\"394\" y=\"")
                .append(y + 14).append("\" font-size=\"10\">1</text></svg><figcaption>").append(esc(metric + " by " + axis))
                .append("</figcaption></figure>\n");
        return s.toString();
    }

    static String esc(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
