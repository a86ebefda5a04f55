package dev.medgemmafhir.engine.replay;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * Re-runs the prompt a server stored for an AI draft (AI Transparency on FHIR: the draft's
 * Provenance names the model's Device and the AIInputPrompt) on a local copy of the model, and says
 * whether the same tokens come out. Before running, the local weights are compared with the ones the
 * Device recorded (the digest of the ONNX files, and the official weights' sha256 from
 * {@code conversion.json}): a draft whose weights are gone is not reproducible, whatever the text.
 */
public final class Replay {

    /** The verdict, with the process exit code {@code medgemma-cli replay} uses for it. */
    public enum Verdict {
        IDENTICAL(0), DIFFERENT(1), NOT_REPRODUCIBLE(3);

        public final int exitCode;

        Verdict(int exitCode) {
            this.exitCode = exitCode;
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the server recorded about one draft. */
    public record Recorded(String draft, String device, String variant, String weightsDigest,
            Map<String, String> sourceWeights, Optional<RecordedRequest> prompt, String problem) {}

    /**
     * @param firstDifference index of the first generated token that differs (-1 when identical)
     */
    public record Report(Verdict verdict, String message, String draft, int recordedTokens, int replayedTokens,
            int firstDifference, String recordedText, String replayedText) {}

    private Replay() {}

    /** Reads the Provenance, its AI Device and its AIInputPrompt. */
    public static Recorded fetch(FhirRest fhir, String provenanceId) {
        String id = provenanceId.startsWith("Provenance/") ? provenanceId : "Provenance/" + provenanceId;
        JsonNode provenance = fhir.get(id);
        String draft = provenance.path("target").path(0).path("reference").asText(null);
        JsonNode agent = null;
        for (JsonNode a : provenance.path("agent")) {
            boolean ai = false;
            for (JsonNode role : a.path("role")) {
                for (JsonNode coding : role.path("coding")) {
                    ai |= "Artificial-Intelligence".equals(coding.path("code").asText());
                }
            }
            if (ai || (agent == null && "author".equals(a.path("type").path("coding").path(0).path("code").asText()))) {
                agent = a;
            }
        }
        if (agent == null || !agent.path("who").has("reference")) {
            return new Recorded(draft, null, null, null, Map.of(), Optional.empty(), id + " names no AI Device as author");
        }
        String deviceRef = agent.path("who").path("reference").asText();
        JsonNode device = fhir.get(versionless(deviceRef));
        String variant = null;
        String digest = null;
        for (JsonNode identifier : device.path("identifier")) {
            if (AiVocabulary.DEVICE_IDENTIFIER_SYSTEM.equals(identifier.path("system").asText())) {
                // value: modelId:variant:sha256:<hex>
                String[] parts = identifier.path("value").asText().split(":");
                if (parts.length >= 4) {
                    variant = parts[parts.length - 3];
                    digest = parts[parts.length - 2] + ":" + parts[parts.length - 1];
                }
            }
        }
        Map<String, String> sources = new LinkedHashMap<>();
        for (JsonNode version : device.path("version")) {
            String type = version.path("type").path("text").asText("");
            if (type.equals(AiVocabulary.ONNX_WEIGHTS_VERSION) && version.path("value").asText().contains("sha256:")) {
                String value = version.path("value").asText();
                digest = value.substring(value.indexOf("sha256:"));
            } else if (type.startsWith(AiVocabulary.SOURCE_WEIGHTS_VERSION)) {
                String path = type.substring(type.lastIndexOf('/') + 1).replace(AiVocabulary.SOURCE_WEIGHTS_VERSION, "").strip();
                sources.put(path, version.path("value").asText());
            }
        }
        Optional<RecordedRequest> prompt = Optional.empty();
        String problem = null;
        for (JsonNode entity : provenance.path("entity")) {
            if (!"derivation".equals(entity.path("role").asText()) || !entity.path("what").has("reference")) {
                continue;
            }
            JsonNode doc = fhir.get(versionless(entity.path("what").path("reference").asText()));
            boolean isPrompt = false;
            for (JsonNode coding : doc.path("type").path("coding")) {
                isPrompt |= AiVocabulary.AI_INPUT_PROMPT.equals(coding.path("code").asText());
            }
            if (!isPrompt) {
                continue;
            }
            for (JsonNode content : doc.path("content")) {
                JsonNode attachment = content.path("attachment");
                if (RecordedRequest.CONTENT_TYPE.equals(attachment.path("contentType").asText())) {
                    try {
                        prompt = Optional.of(RecordedRequest.fromJson(FhirRest.attachmentText(attachment)));
                    } catch (IllegalArgumentException e) {
                        problem = "the stored prompt cannot be read: " + e.getMessage();
                    }
                }
            }
        }
        if (prompt.isEmpty() && problem == null) {
            problem = "no prompt was stored with " + draft + " (the server had medgemma.transparency.store-prompts=false,"
                    + " or wrote the draft before it stored prompts)";
        }
        return new Recorded(draft, versionless(deviceRef), variant, digest, sources, prompt, problem);
    }

    /**
     * Compares the local model with the recorded one and, if they are the same, re-runs the prompt.
     *
     * @param localDigest the local weights' digest in a variant (null = the best present), from the files
     *     alone: weights that were altered may not load at all
     * @param loader loads the local model in the recorded variant (null = the best present)
     * @param localConversionRecord the local directory's conversion.json text, if any
     */
    public static Report run(Recorded recorded, Function<String, String> localDigest, Function<String, Engine> loader,
            Optional<String> localConversionRecord) {
        if (recorded.problem() != null) {
            return notReproducible(recorded, recorded.problem());
        }
        RecordedRequest prompt = recorded.prompt().orElseThrow();
        if (!prompt.replayable()) {
            return notReproducible(recorded, "the prompt had " + prompt.imageDigests().size()
                    + " image(s), which are recorded by digest only (they stay in the PACS)");
        }
        if (prompt.output().isEmpty()) {
            return notReproducible(recorded, "the stored prompt has no recorded output to compare with");
        }
        List<String> mismatches = sourceMismatches(recorded.sourceWeights(), localConversionRecord);
        if (!mismatches.isEmpty()) {
            return notReproducible(recorded, "the official weights differ from the ones recorded: " + String.join("; ", mismatches));
        }
        String local;
        try {
            local = localDigest.apply(recorded.variant());
        } catch (RuntimeException e) {
            return notReproducible(recorded, "the recorded variant '" + recorded.variant() + "' cannot be read locally: "
                    + e.getMessage());
        }
        if (recorded.weightsDigest() != null && !recorded.weightsDigest().equals(local)) {
            return notReproducible(recorded, "the local weights' sha256 (" + local + ") is not the recorded one ("
                    + recorded.weightsDigest() + "): these are not the weights that wrote the draft");
        }
        try (Engine engine = loader.apply(recorded.variant())) {
            GenerationResult result = engine.generate(prompt.request());
            List<Integer> before = prompt.output().get().tokenIds();
            int[] now = result.generatedTokenIds();
            int first = -1;
            for (int i = 0; i < Math.max(before.size(), now.length); i++) {
                if (i >= before.size() || i >= now.length || before.get(i) != now[i]) {
                    first = i;
                    break;
                }
            }
            String recordedText = prompt.output().get().text();
            if (first < 0) {
                return new Report(Verdict.IDENTICAL, "identical: the same " + now.length + " tokens", recorded.draft(), before.size(), now.length, -1, recordedText, result.text());
            }
            String why = prompt.request().params().isGreedy() ? "" : prompt.request().params().seed().isPresent()
                    ? " (sampled with a recorded seed)" : " (sampled without a seed: a difference is expected)";
            return new Report(Verdict.DIFFERENT, "different from token " + first + " on (recorded " + before.size()
                    + " tokens, replayed " + now.length + ")" + why, recorded.draft(), before.size(), now.length, first,
                    recordedText, result.text());
        }
    }

    private static List<String> sourceMismatches(Map<String, String> recorded, Optional<String> localRecord) {
        List<String> mismatches = new ArrayList<>();
        if (recorded.isEmpty()) {
            return mismatches;
        }
        if (localRecord.isEmpty()) {
            mismatches.add("the local model directory has no conversion.json to compare with");
            return mismatches;
        }
        Map<String, String> local = new LinkedHashMap<>();
        try {
            for (JsonNode file : JSON.readTree(localRecord.get()).path("source").path("files")) {
                local.put(file.path("path").asText(), file.path("sha256").asText());
            }
        } catch (IOException e) {
            mismatches.add("the local conversion.json cannot be read");
            return mismatches;
        }
        recorded.forEach((path, sha) -> {
            if (!sha.equals(local.get(path))) {
                mismatches.add(path + " was " + sha + ", local " + local.getOrDefault(path, "(absent)"));
            }
        });
        return mismatches;
    }

    private static Report notReproducible(Recorded recorded, String why) {
        return new Report(Verdict.NOT_REPRODUCIBLE, "NOT REPRODUCIBLE: " + why, recorded.draft(), 0, 0, -1, null, null);
    }

    private static String versionless(String reference) {
        int history = reference.indexOf("/_history/");
        return history < 0 ? reference : reference.substring(0, history);
    }
}
