package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.cli.MedGemmaCli;
import dev.medgemmafhir.engine.forge.CheckpointForge;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code medgemma models convert} as an operator runs it: output files, provenance, and one-line refusals that write nothing. */
class ConvertCommandTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    record Run(int exit, String out, String err) {
    }

    static Run cli(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = MedGemmaCli.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    private CheckpointForge.Forged textCheckpoint(int shards) {
        return CheckpointForge.forge(temp.resolve("ck"), CheckpointForge.Shape.tiny(), false, CheckpointForge.Naming.RELEASED, shards, 3);
    }

    @Test
    void convertsWritesTheModelFilesAndRecordsWhereTheWeightsCameFrom() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(2);
        Path to = temp.resolve("models/gemma3-text");
        Run run = cli("models", "convert", "--from", ck.dir().toString(), "--to", to.toString(), "--dtype", "q4", "-q");
        assertEquals(0, run.exit(), run.err());
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "onnx/model_q4.onnx", "onnx/model_q4.onnx_data", "conversion.json")) {
            assertTrue(Files.isRegularFile(to.resolve(f)), f);
        }
        JsonNode config = JSON.readTree(to.resolve("config.json").toFile());
        assertEquals("gemma3_text", config.path("model_type").asText());
        assertEquals(ck.shape().kvHeads(), config.path("num_key_value_heads").asInt());

        JsonNode record = JSON.readTree(to.resolve("conversion.json").toFile());
        assertEquals("q4", record.path("options").path("dtype").asText());
        assertEquals("Gemma3ForCausalLM", record.path("source").path("architecture").asText());
        JsonNode files = record.path("source").path("files");
        try (Stream<Path> source = Files.list(ck.dir())) {
            assertEquals(source.count(), files.size(), "every source file is listed");
        }
        for (JsonNode f : files) {
            assertEquals(Converter.sha256(ck.dir().resolve(f.path("path").asText())), f.path("sha256").asText(), f.path("path").asText());
        }
        assertTrue(files.toString().contains("model-00002-of-00002.safetensors"));
        assertOnlyPublished(to);
        if (Files.getFileStore(to).supportsFileAttributeView("posix")) {
            assertEquals("rwxr-xr-x", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(to)),
                    "the published directory is readable by the server's user, unlike a private temporary folder");
        }
    }

    @Test
    void theLoadedModelCarriesItsConversionRecordSoADeviceCanNameTheSourceWeights() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(1);
        Path to = temp.resolve("models/recorded");
        assertEquals(0, cli("models", "convert", "--from", ck.dir().toString(), "--to", to.toString(), "-q").exit());
        try (MedGemmaModel model = MedGemmaModel.load(to)) {
            assertEquals(Files.readString(to.resolve("conversion.json")), model.identity().conversionRecord().orElseThrow());
        }
        Files.delete(to.resolve("conversion.json"));
        try (MedGemmaModel model = MedGemmaModel.load(to)) {
            assertTrue(model.identity().conversionRecord().isEmpty(), "a directory converted elsewhere has no record");
        }
    }

    @Test
    void fp16IsRefusedWithTheReason() {
        CheckpointForge.Forged ck = textCheckpoint(1);
        Path to = temp.resolve("out");
        Run run = cli("models", "convert", "--from", ck.dir().toString(), "--to", to.toString(), "--dtype", "fp16");
        assertEquals(1, run.exit());
        assertTrue(run.err().contains("overflow"), run.err());
        assertFalse(Files.exists(to));
    }

    @Test
    void aMissingShardIsNamedAndNothingIsWritten() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(3);
        Files.delete(ck.dir().resolve("model-00002-of-00003.safetensors"));
        assertRefused(ck.dir(), "model-00002-of-00003.safetensors");
    }

    @Test
    void aTruncatedShardIsNamedAndNothingIsWritten() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(2);
        Path shard = ck.dir().resolve("model-00002-of-00002.safetensors");
        try (FileChannel ch = FileChannel.open(shard, StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 100);
        }
        assertRefused(ck.dir(), "model-00002-of-00002.safetensors: truncated");
    }

    @Test
    void anUnknownArchitectureIsNamedAndNothingIsWritten() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(1);
        editConfig(ck.dir(), c -> c.putArray("architectures").add("LlamaForCausalLM"));
        assertRefused(ck.dir(), "config.json: architecture LlamaForCausalLM");
    }

    @Test
    void aConfigThatDisagreesWithTheTensorsIsNamedAndNothingIsWritten() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(1);
        editConfig(ck.dir(), c -> c.put("intermediate_size", ck.shape().intermediate() * 2));
        assertRefused(ck.dir(), "model.safetensors: tensor model.layers.0.mlp.gate_proj.weight has shape");
    }

    @Test
    void anUnreadableDtypeIsNamedAndNothingIsWritten() throws IOException {
        CheckpointForge.Forged ck = textCheckpoint(1);
        Path file = ck.dir().resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        String header = new String(bytes, 8, (int) headerLength, StandardCharsets.UTF_8);
        // Same width, another type: the checkpoint stays well formed but holds int16 weights.
        String changed = header.replaceFirst("\"BF16\"", "\"I16\" ");
        byte[] h = changed.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(h, 0, bytes, 8, h.length);
        Files.write(file, bytes);
        assertRefused(ck.dir(), "has dtype I16");
    }

    private void assertRefused(Path from, String expectedInMessage) throws IOException {
        Path to = temp.resolve("refused/out");
        Run run = cli("models", "convert", "--from", from.toString(), "--to", to.toString(), "--dtype", "fp32", "-q");
        assertEquals(1, run.exit(), run.out());
        String message = run.err().strip();
        assertEquals(1, message.lines().count(), "one line: " + message);
        assertTrue(message.contains(expectedInMessage), message);
        assertFalse(Files.exists(to), "nothing published");
        if (Files.exists(to.getParent())) {
            try (Stream<Path> left = Files.list(to.getParent())) {
                assertEquals(List.of(), left.toList(), "no working folder left behind");
            }
        }
    }

    private void assertOnlyPublished(Path to) throws IOException {
        try (Stream<Path> siblings = Files.list(to.getParent())) {
            assertEquals(List.of(to), siblings.toList(), "the working folder is gone after publishing");
        }
    }

    private static void editConfig(Path dir, java.util.function.Consumer<ObjectNode> edit) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        edit.accept(c);
        JSON.writeValue(dir.resolve("config.json").toFile(), c);
    }
}
