package dev.medgemmafhir.engine.convert;

import dev.medgemmafhir.engine.pull.ProgressBar;
import picocli.CommandLine.Command;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code models convert}: a Hugging Face Gemma 3 / MedGemma checkpoint to a model directory. */
@Command(name = "convert",
        mixinStandardHelpOptions = true,
        description = "Convert a Hugging Face Gemma 3 / MedGemma checkpoint (safetensors + config.json, as Google publishes"
                + " them or as fine-tuning tools save them) into a model directory this engine and transformers.js load."
                + " Gemma3ForConditionalGeneration becomes the image + text layout, Gemma3ForCausalLM the text-only layout."
                + " The directory appears only when complete.",
        footer = {"", "Exit codes: 0 done, 1 failed (one line names the file at fault; nothing is written), 2 usage error."})
public class ConvertCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--from", required = true, paramLabel = "CHECKPOINT_DIR", description = "Checkpoint folder (config.json, *.safetensors, tokenizer files).")
    Path from;

    @Option(names = "--to", required = true, paramLabel = "MODEL_DIR", description = "Model directory to create (must not exist or be empty).")
    Path to;

    @Option(names = "--dtype", defaultValue = ConversionOptions.Q4,
            description = "q4 (4-bit MatMulNBits weights, fp32 activations) or fp32 (default: ${DEFAULT-VALUE}); fp16 and q4f16 are refused.")
    String dtype;

    @Option(names = "--attention", defaultValue = ConversionOptions.DEFAULT_ATTENTION,
            description = "fused: ONNX Runtime's GroupQueryAttention, rotary and simplified-norm operators, last-position logits;"
                    + " standard: default-domain ONNX ops for other runtimes (default: ${DEFAULT-VALUE}).")
    String attention;

    @Option(names = "--q4-block-size", paramLabel = "N", converter = BlockSize.class,
            description = "q4 only: weights per 4-bit block, each with one fp32 scale: 16, 32, 64, 128 or 256 (default: 32)."
                    + " Larger blocks store fewer scales (less memory traffic per decoded token) at some accuracy cost.")
    Integer q4BlockSize;

    @Option(names = "--q4-symmetric",
            description = "q4 only: blocks without zero points (MatMulNBits' default zero point 8; the block's largest-magnitude"
                    + " weight sets the scale, as llama.cpp's Q4_0). Saves 4 bits per block. Default: a zero point per block.")
    boolean q4Symmetric;

    @Option(names = "--adapter", paramLabel = "ADAPTER_DIR",
            description = "A PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) to merge into the weights.")
    Path adapter;

    @Option(names = {"-q", "--quiet"}, description = "No progress output.")
    boolean quiet;

    @Override
    public Integer call() {
        try {
            Q4Format q4Format = q4BlockSize == null && !q4Symmetric ? null
                    : new Q4Format(q4BlockSize == null ? Q4Format.DEFAULT.blockSize() : q4BlockSize, q4Symmetric);
            ConversionOptions options = new ConversionOptions(dtype, attention, adapter, q4Format);
            long started = System.nanoTime();
            Converter.Result result = Converter.convert(from, to, options, quiet ? ConversionProgress.NONE : new Bar(ProgressBar.onStderr()));
            spec.commandLine().getOut().printf("converted %s -> %s (%s, %s, %.0f s)%n", from, result.directory(), result.layout(),
                    options.q4Format() == null ? options.dtype() : options.dtype() + " " + options.q4Format().describe(),
                    (System.nanoTime() - started) / 1e9);
            return 0;
        } catch (ConversionException e) {
            spec.commandLine().getErr().println("convert: " + e.getMessage());
            return 1;
        }
    }

    /** {@code --q4-block-size}: a usage error (exit 2, picocli's message) unless one of {@link Q4Format#BLOCK_SIZES}. */
    static final class BlockSize implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            int size;
            try {
                size = Integer.parseInt(value.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("'" + value + "' is not a number; use one of " + Q4Format.BLOCK_SIZES);
            }
            if (!Q4Format.BLOCK_SIZES.contains(size)) {
                throw new TypeConversionException(size + " is not supported; use one of " + Q4Format.BLOCK_SIZES);
            }
            return size;
        }
    }

    /** The pull command's progress bar, fed with converted source bytes. */
    private record Bar(ProgressBar bar) implements ConversionProgress {
        @Override
        public void begin(long totalBytes) {
            bar.start("converting " + ProgressBar.human(totalBytes) + " of checkpoint tensors", totalBytes);
        }

        @Override
        public void stage(String name) {
            bar.file(name, -1, 0);
        }

        @Override
        public void advance(long bytes) {
            bar.advance(bytes);
        }

        @Override
        public void end() {
            bar.end();
        }
    }
}
