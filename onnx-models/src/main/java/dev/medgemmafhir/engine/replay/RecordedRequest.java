package dev.medgemmafhir.engine.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A generation request written down exactly (every message's text, every sampling parameter), so
 * that it can be run again later: what a server stores next to a draft, and what {@code replay}
 * reads. Images are recorded by their sha256 and size only (they stay in the PACS), so a request
 * with images reads back as {@link #imageDigests()} and cannot be replayed from the record alone.
 *
 * <p>Format ({@code application/json}): {@code {"format":"medgemma-generation-request/1",
 * "messages":[{"role":"system|user|assistant","parts":[{"text":".."}|{"image":{"sha256":"..","bytes":n}}]}],
 * "params":{"maxNewTokens":n,"temperature":t,"topK":k|null,"topP":p|null,"repetitionPenalty":r,
 * "seed":s|null,"stopStrings":[..]},"output":{"tokenIds":[..],"stopReason":"..","text":"..",
 * "executionProvider":".."}}} (output only once the request has run).
 */
public record RecordedRequest(GenerationRequest request, List<String> imageDigests, Optional<Output> output) {

    /**
     * What the model answered when the request was first run: every generated token id (end of
     * sequence included), why it stopped, the text, and where it ran. Replay compares token ids.
     */
    public record Output(List<Integer> tokenIds, String stopReason, String text, String executionProvider) {
        public Output {
            tokenIds = List.copyOf(tokenIds);
        }

        static Output of(GenerationResult result) {
            List<Integer> ids = new ArrayList<>();
            for (int id : result.generatedTokenIds()) {
                ids.add(id);
            }
            return new Output(ids, result.stopReason().name().toLowerCase(Locale.ROOT), result.text(),
                    result.executionProvider());
        }
    }

    public static final String FORMAT = "medgemma-generation-request/1";
    public static final String CONTENT_TYPE = "application/json";
    private static final ObjectMapper JSON = new ObjectMapper();

    public RecordedRequest {
        imageDigests = List.copyOf(imageDigests);
        output = output == null ? Optional.empty() : output;
    }

    /** Whether the record alone is enough to run the request again (no images). */
    public boolean replayable() {
        return imageDigests.isEmpty();
    }

    /** The exact JSON record of {@code request}. */
    public static String toJson(GenerationRequest request) {
        return toJson(request, null);
    }

    /** The exact JSON record of {@code request} and, when not null, of what it produced. */
    public static String toJson(GenerationRequest request, GenerationResult result) {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        ArrayNode messages = root.putArray("messages");
        for (ChatMessage message : request.messages()) {
            ObjectNode m = messages.addObject();
            m.put("role", message.role().name().toLowerCase(Locale.ROOT));
            ArrayNode parts = m.putArray("parts");
            for (ContentPart part : message.parts()) {
                if (part instanceof ContentPart.Text text) {
                    parts.addObject().put("text", text.text());
                } else if (part instanceof ContentPart.Image image) {
                    parts.addObject().putObject("image").put("sha256", sha256(image.encoded()))
                            .put("bytes", image.encoded().length);
                }
            }
        }
        GenerationParams p = request.params();
        ObjectNode params = root.putObject("params");
        params.put("maxNewTokens", p.maxNewTokens());
        params.put("temperature", p.temperature());
        if (p.topK() == null) {
            params.putNull("topK");
        } else {
            params.put("topK", p.topK());
        }
        if (p.topP() == null) {
            params.putNull("topP");
        } else {
            params.put("topP", p.topP());
        }
        params.put("repetitionPenalty", p.repetitionPenalty());
        if (p.seed().isPresent()) {
            params.put("seed", p.seed().getAsLong());
        } else {
            params.putNull("seed");
        }
        ArrayNode stops = params.putArray("stopStrings");
        p.stopStrings().forEach(stops::add);
        if (result != null) {
            Output out = Output.of(result);
            ObjectNode o = root.putObject("output");
            ArrayNode ids = o.putArray("tokenIds");
            out.tokenIds().forEach(ids::add);
            o.put("stopReason", out.stopReason());
            o.put("text", out.text());
            o.put("executionProvider", out.executionProvider());
        }
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a record back; an unknown format or a malformed record is an {@link IllegalArgumentException}. */
    public static RecordedRequest fromJson(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (IOException e) {
            throw new IllegalArgumentException("not a generation request record: " + e.getMessage(), e);
        }
        if (root == null || !FORMAT.equals(root.path("format").asText())) {
            throw new IllegalArgumentException("not a generation request record (format must be " + FORMAT + ")");
        }
        List<ChatMessage> messages = new ArrayList<>();
        List<String> images = new ArrayList<>();
        for (JsonNode m : root.path("messages")) {
            ChatMessage.Role role = ChatMessage.Role.valueOf(m.path("role").asText().toUpperCase(Locale.ROOT));
            List<ContentPart> parts = new ArrayList<>();
            for (JsonNode part : m.path("parts")) {
                if (part.has("text")) {
                    parts.add(new ContentPart.Text(part.get("text").asText()));
                } else if (part.has("image")) {
                    images.add(part.path("image").path("sha256").asText());
                } else {
                    throw new IllegalArgumentException("a message part is neither text nor image");
                }
            }
            messages.add(new ChatMessage(role, parts));
        }
        JsonNode p = root.path("params");
        if (!p.has("maxNewTokens")) {
            throw new IllegalArgumentException("the record has no params.maxNewTokens");
        }
        List<String> stops = new ArrayList<>();
        p.path("stopStrings").forEach(s -> stops.add(s.asText()));
        GenerationParams params = new GenerationParams(p.get("maxNewTokens").asInt(), p.path("temperature").asDouble(0),
                p.path("topK").isNumber() ? p.get("topK").asInt() : null,
                p.path("topP").isNumber() ? p.get("topP").asDouble() : null,
                p.path("repetitionPenalty").asDouble(1.0),
                p.path("seed").isNumber() ? OptionalLong.of(p.get("seed").asLong()) : OptionalLong.empty(), stops);
        Optional<Output> output = Optional.empty();
        JsonNode o = root.path("output");
        if (o.isObject()) {
            List<Integer> ids = new ArrayList<>();
            o.path("tokenIds").forEach(id -> ids.add(id.asInt()));
            output = Optional.of(new Output(ids, o.path("stopReason").asText(null), o.path("text").asText(null),
                    o.path("executionProvider").asText(null)));
        }
        return new RecordedRequest(new GenerationRequest(messages, params), images, output);
    }

    /** The prompt as a person reads it: one Markdown section per message. */
    public static String toMarkdown(GenerationRequest request) {
        StringBuilder md = new StringBuilder();
        for (ChatMessage message : request.messages()) {
            md.append("## ").append(message.role().name().toLowerCase(Locale.ROOT)).append("\n\n");
            for (ContentPart part : message.parts()) {
                if (part instanceof ContentPart.Text text) {
                    md.append(text.text());
                } else if (part instanceof ContentPart.Image image) {
                    md.append("\n[image sha256:").append(sha256(image.encoded())).append(", ")
                            .append(image.encoded().length).append(" bytes]\n");
                }
            }
            md.append("\n\n");
        }
        return md.toString();
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
