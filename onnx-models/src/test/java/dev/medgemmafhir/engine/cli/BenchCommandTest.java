package dev.medgemmafhir.engine.cli;

import ai.onnxruntime.OrtEnvironment;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code bench} on a tiny forged model: the report has every field, with values that can be real. No timing thresholds. */
class BenchCommandTest {

    @TempDir
    Path tmp;

    @Test
    void jsonReportsSpeedsMemoryBandwidthAndRooflinePerPromptLength() throws Exception {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly().variants(WeightVariant.Q4).externalData(true), tmp.resolve("m"));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = MedGemmaCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute("bench", "--model", forged.dir().toString(), "--dtype", "q4", "--prompt-lengths", "8,24",
                "--decode-tokens", "4", "--runs", "3", "--warmup", "1", "--bandwidth-mib", "64", "--json");
        assertEquals(0, code, err.toString());

        JsonNode r = new ObjectMapper().readTree(out.toString());
        assertTrue(r.at("/machine/memory_bandwidth_bytes_per_s").asDouble() > 0);
        assertTrue(r.at("/machine/cpu").asText().length() > 0);
        assertEquals("q4", r.get("variant").asText());
        // The runtime that loaded, so that a record says which ONNX Runtime it measured.
        assertEquals(OrtEnvironment.getEnvironment().getVersion(), r.get("onnxruntime_version").asText());
        assertTrue(r.get("onnxruntime_version").asText().matches("\\d+\\.\\d+\\.\\d+.*"), r.get("onnxruntime_version").asText());
        // The embedding table is most of a tiny model's bytes, but one of its rows is all a token reads.
        assertTrue(r.get("weight_bytes_per_token").asLong() > 0);
        long kvPerToken = 2L * forged.dims().layers() * forged.dims().kvHeads() * forged.dims().headDim() * 4;
        assertEquals(kvPerToken, r.get("kv_cache_bytes_per_context_token").asLong());
        assertTrue(r.get("peak_resident_bytes").asLong() > 0);

        JsonNode lengths = r.get("lengths");
        assertEquals(2, lengths.size());
        assertEquals(8, lengths.get(0).get("prompt_tokens").asInt());
        assertEquals(24, lengths.get(1).get("prompt_tokens").asInt());
        for (JsonNode l : lengths) {
            for (String field : new String[] {"prefill_tokens_per_s", "time_to_first_token_ms", "decode_tokens_per_s",
                    "bytes_per_decoded_token", "roofline_decode_tokens_per_s", "roofline_fraction"}) {
                assertTrue(l.get(field).asDouble() > 0, field + " in " + l);
            }
            assertEquals(3, l.get("decode_tokens_per_s_runs").size());
        }
        // A longer context reads more cache per token.
        assertTrue(lengths.get(1).get("bytes_per_decoded_token").asLong() > lengths.get(0).get("bytes_per_decoded_token").asLong());
        // The longest run's cache: at least its context in every layer (this forged model has no sliding-window record).
        assertTrue(r.get("peak_kv_cache_bytes").asLong() >= kvPerToken * (24 + 4 - 1), r.toString());
    }

    /** {@code --profile PREFIX} leaves ONNX Runtime's per-operator trace of the decoder: JSON events naming its operators. */
    @Test
    void profileWritesOnnxRuntimesPerOperatorTrace() throws Exception {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("p"));
        Path prefix = tmp.resolve("traces").resolve("run");
        Files.createDirectories(prefix.getParent());
        CommandLine cli = MedGemmaCli.commandLine();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(new StringWriter()));
        cli.setErr(new PrintWriter(err));
        assertEquals(0, cli.execute("bench", "--model", forged.dir().toString(), "--prompt-lengths", "8", "--decode-tokens", "3",
                "--runs", "1", "--warmup", "0", "--bandwidth-mib", "16", "--profile", prefix.toString()), err.toString());
        List<Path> traces;
        try (var files = Files.list(prefix.getParent())) {
            traces = files.filter(f -> f.getFileName().toString().startsWith("run") && f.toString().endsWith(".json")).toList();
        }
        assertTrue(!traces.isEmpty(), "no trace written");
        boolean sawRun = false;
        boolean sawMatMul = false;
        for (Path trace : traces) {
            for (JsonNode e : new ObjectMapper().readTree(trace.toFile())) {
                sawRun |= "model_run".equals(e.path("name").asText());
                sawMatMul |= e.path("args").path("op_name").asText().contains("MatMul");
            }
        }
        assertTrue(sawRun && sawMatMul, "the traces should time the decoder's runs and its MatMul nodes: " + traces);
    }

    @Test
    void concurrencyReportsBatchedDecodeSpeedPerLevelFromStepsThatRanEveryRequest() throws Exception {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("c"));
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = MedGemmaCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        // Enough tokens that every request is still decoding when the last one joins: on an idle machine
        // the tiny model finishes a dozen steps before another thread has even prefilled.
        int code = cli.execute("bench", "--model", forged.dir().toString(), "--prompt-lengths", "8", "--decode-tokens", "256",
                "--concurrency", "1,3", "--runs", "1", "--warmup", "0", "--bandwidth-mib", "16", "--max-batch", "2", "--json");
        assertEquals(0, code, err.toString());
        JsonNode r = new ObjectMapper().readTree(out.toString());
        assertEquals(3, r.get("max_batch").asInt(), "the batch grows to the largest level");
        assertTrue(r.at("/machine/cpu_flags").isTextual());
        JsonNode levels = r.get("concurrency");
        assertEquals(2, levels.size());
        assertEquals(1, levels.get(0).get("concurrency").asInt());
        assertEquals(3, levels.get(1).get("concurrency").asInt());
        long kv = 2L * forged.dims().layers() * forged.dims().kvHeads() * forged.dims().headDim() * 4 * (8 + 256);
        for (JsonNode l : levels) {
            assertTrue(l.get("steps_with_all_requests").asDouble() > 0, l.toString());
            assertTrue(l.get("decode_tokens_per_s").asDouble() > 0, l.toString());
            assertTrue(l.get("end_to_end_tokens_per_s").asDouble() > 0, l.toString());
            assertEquals(kv, l.get("kv_cache_bytes_per_request").asLong());
        }
        assertTrue(levels.get(1).has("peak_resident_bytes_per_extra_request"));
        assertEquals(0, r.get("lengths").size(), "no single-stream table in concurrency mode");
    }

    @Test
    void tableIsTheDefaultAndBadArgumentsExitWithTwo() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("t"));
        StringWriter out = new StringWriter();
        CommandLine cli = MedGemmaCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(new StringWriter()));
        assertEquals(0, cli.execute("bench", "--model", forged.dir().toString(), "--prompt-lengths", "8", "--decode-tokens", "3",
                "--runs", "1", "--bandwidth-mib", "16"));
        assertTrue(out.toString().contains("roofline"), out.toString());
        assertTrue(out.toString().contains("(ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion() + ")"), out.toString());
        assertEquals(2, cli.execute("bench", "--model", forged.dir().toString(), "--prompt-lengths", "5000", "--decode-tokens", "3"));
    }
}
