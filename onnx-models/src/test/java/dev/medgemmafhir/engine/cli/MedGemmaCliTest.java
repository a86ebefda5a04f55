package dev.medgemmafhir.engine.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ForgedModel;
import dev.medgemmafhir.engine.forge.ModelForge;
import dev.medgemmafhir.engine.forge.WeightVariant;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MedGemmaCliTest {

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = MedGemmaCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void generateJsonReportsIdsTextStopReasonAndTimings() throws Exception {
        ForgedModel forged = ModelForge.forge(ForgeSpec.imageText().variants(WeightVariant.FP32, WeightVariant.Q4), tmp.resolve("m"));
        Path image = tmp.resolve("x.png");
        ImageIO.write(new BufferedImage(40, 40, BufferedImage.TYPE_INT_RGB), "png", image.toFile());
        Run r = run("generate", "--model", forged.dir().toString(), "--dtype", "q4", "--system", "Be brief.", "--prompt", "Findings?",
                "--image", image.toString(), "--max-new-tokens", "6", "--temperature", "0", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode json = new ObjectMapper().readTree(r.out());
        assertEquals(6, json.get("generated_token_ids").size());
        assertTrue(json.get("prompt_token_ids").size() > forged.tokensPerImage());
        assertEquals("max_new_tokens", json.get("stop_reason").asText());
        assertEquals("CPU", json.get("execution_provider").asText());
        assertEquals("q4", json.get("variant").asText());
        for (String field : new String[] {"text", "prefill_ms", "decode_ms", "decode_tokens_per_s"}) {
            assertTrue(json.has(field), field);
        }
    }

    @Test
    void generateStreamsTextAndSamplesReproduciblyWithASeed() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("t"));
        String[] args = {"generate", "--model", forged.dir().toString(), "--prompt", "Hello", "--max-new-tokens", "8",
                "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9", "--seed", "5"};
        Run a = run(args);
        Run b = run(args);
        assertEquals(0, a.code(), a.err());
        assertEquals(a.out(), b.out());
        assertTrue(a.err().contains("max_new_tokens"), a.err());
    }

    @Test
    void inspectDescribesLayoutVariantsGraphsAndTokens() {
        ForgedModel forged = ModelForge.forge(ForgeSpec.imageText().variants(WeightVariant.FP32, WeightVariant.Q4), tmp.resolve("i"));
        Run r = run("inspect", "--model", forged.dir().toString(), "--digest");
        assertEquals(0, r.code(), r.err());
        for (String s : new String[] {"TRANSFORMERS_JS_IMAGE_TEXT", "fp32, q4", "context length: " + forged.dims().maxPositions(),
                "past_key_values.0.key", "present.1.value", "pixel_values", "<start_of_turn>", "<image_soft_token>", "sha256:",
                "inputs_embeds: FLOAT [batch_size, sequence_length, " + forged.dims().hidden() + "]"}) {
            assertTrue(r.out().contains(s), s + " missing from:\n" + r.out());
        }
    }

    @Test
    void errorsAreOneLineWithAnExitCode() {
        Run missing = run("generate", "--model", tmp.resolve("none").toString(), "--prompt", "x");
        assertEquals(1, missing.code());
        assertTrue(missing.err().startsWith("error: ") && missing.err().contains("not a directory"), missing.err());
        ForgedModel forged = ModelForge.forge(ForgeSpec.textOnly(), tmp.resolve("t2"));
        Run bad = run("generate", "--model", forged.dir().toString(), "--prompt", "x", "--temperature", "-1");
        assertEquals(2, bad.code());
        assertEquals(2, run("generate", "--prompt", "x").code());
    }
}
