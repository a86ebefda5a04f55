package dev.medgemmafhir.engine.forge;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;

/**
 * Forges a Gemma 3 text model as a GGUF file for llama.cpp: {@code gemma3} architecture metadata,
 * the tensor names and layouts llama.cpp's converter writes (norm weights stored with Gemma's +1
 * already added, the output head tied to {@code token_embd}), random weights in the block formats
 * llama.cpp's kernels read, and the forge's tokenizer vocabulary as a SentencePiece-style
 * ({@code llama}) vocabulary with the same ids as the ONNX forge's {@code tokenizer.json}.
 *
 * <p>The point is speed comparisons ({@code onnx-models/bench/compare-llamacpp.sh}): with
 * {@link ForgeDims#medGemma4bShape()} every tensor has MedGemma 4B's shape, so llama.cpp does the
 * real model's work. Which tensor gets which type follows {@code llama-quantize}'s rules for the
 * file type (llama.cpp {@code src/llama-quant.cpp}): with a tied head, {@code token_embd} is
 * Q6_K for both mixes (Q8_0 when its rows are not a multiple of 256); Q4_K_M puts {@code attn_v}
 * and {@code ffn_down} of the first and last eighth of the layers and of every third layer
 * between them in Q6_K. Block contents are random but valid: finite fp16 scales sized so weights
 * have a standard deviation of roughly 0.02.
 *
 * <p>Test code; never commit what it writes. Run through Maven:
 * <pre>
 * mvn -o -pl onnx-models org.codehaus.mojo:exec-maven-plugin:3.6.4:java -Dexec.classpathScope=test \
 *     -Dexec.mainClass=dev.medgemmafhir.engine.forge.GgufForge -Dexec.args="/tmp/medgemma-4b-shape-q4_0.gguf q4_0 [4b|tiny] [sliding_window]"
 * </pre>
 */
public final class GgufForge {

    /** llama.cpp file types ({@code llama_ftype}) this forge writes. */
    public enum Mix {
        Q4_0(2), Q4_K_M(15);

        final int fileType;

        Mix(int fileType) {
            this.fileType = fileType;
        }

        static Mix parse(String name) {
            return valueOf(name.toUpperCase(Locale.ROOT));
        }
    }

    /** ggml tensor types and their block sizes (elements, bytes), from ggml's type traits. */
    enum GgmlType {
        F32(0, 1, 4), Q4_0(2, 32, 18), Q8_0(8, 32, 34), Q4_K(12, 256, 144), Q6_K(14, 256, 210);

        final int id;
        final int blockElements;
        final int blockBytes;

        GgmlType(int id, int blockElements, int blockBytes) {
            this.id = id;
            this.blockElements = blockElements;
            this.blockBytes = blockBytes;
        }

        long bytes(long elements) {
            if (elements % blockElements != 0) {
                throw new IllegalArgumentException(this + " needs rows that are a multiple of " + blockElements);
            }
            return elements / blockElements * blockBytes;
        }
    }

    static final String ARCH = "gemma3";
    /** Gemma 3's RMSNorm epsilon and global RoPE base / linear scaling (4B, 27B). */
    private static final float RMS_EPS = 1e-6f;
    private static final float ROPE_BASE = 1_000_000f;
    private static final float ROPE_LINEAR_FACTOR = 8f;
    /** Target standard deviation of the weights. */
    private static final double WEIGHT_STD = 0.02;
    // tokenizer.ggml.token_type values (llama_token_type)
    private static final int NORMAL = 1;
    private static final int UNKNOWN = 2;
    private static final int CONTROL = 3;
    private static final int BYTE = 6;

    private GgufForge() {
    }

    /**
     * Writes the model.
     *
     * @param slidingWindow tokens a sliding layer sees ({@code gemma3.attention.sliding_window};
     *                      llama.cpp applies it to 5 of every 6 layers). The ONNX forge has no
     *                      sliding window, so comparisons with it pass {@code dims.maxPositions()}:
     *                      every layer then attends to the whole context, as in the ONNX graph.
     * @return the file's size in bytes
     */
    public static long forge(Path file, ForgeDims dims, Mix mix, int slidingWindow, long seed) throws IOException {
        ForgedTokenizer tokenizer = new ForgedTokenizer(dims.vocab());
        List<String> tokens = tokenizer.tokens();
        if (new HashSet<>(tokens).size() != tokens.size()) {
            throw new IllegalStateException("the forged vocabulary has duplicate tokens; llama.cpp rejects them");
        }
        float[] scores = new float[tokens.size()];
        int[] types = new int[tokens.size()];
        for (int id = 0; id < tokens.size(); id++) {
            String t = tokens.get(id);
            boolean angle = t.startsWith("<") && t.endsWith(">") && t.length() > 2;
            types[id] = t.equals("<unk>") ? UNKNOWN
                    : angle && t.startsWith("<0x") && t.length() == 6 ? BYTE
                    : angle && !t.startsWith("<unused") ? CONTROL
                    : NORMAL;
            // SentencePiece merges the highest-scoring pair first: earlier (shorter, more frequent) pieces win.
            scores[id] = types[id] == NORMAL ? -id : 0f;
        }

        GgufWriter w = new GgufWriter()
                .putString("general.architecture", ARCH)
                .putString("general.name", "medgemma-fhir forged gemma3 (random weights)")
                .putUint32("general.file_type", mix.fileType)
                .putUint32("general.quantization_version", 2)
                .putUint32(ARCH + ".context_length", dims.maxPositions())
                .putUint32(ARCH + ".embedding_length", dims.hidden())
                .putUint32(ARCH + ".block_count", dims.layers())
                .putUint32(ARCH + ".feed_forward_length", dims.intermediate())
                .putUint32(ARCH + ".attention.head_count", dims.heads())
                .putUint32(ARCH + ".attention.head_count_kv", dims.kvHeads())
                .putUint32(ARCH + ".attention.key_length", dims.headDim())
                .putUint32(ARCH + ".attention.value_length", dims.headDim())
                .putFloat32(ARCH + ".attention.layer_norm_rms_epsilon", RMS_EPS)
                .putUint32(ARCH + ".attention.sliding_window", slidingWindow)
                .putFloat32(ARCH + ".rope.freq_base", ROPE_BASE)
                .putString(ARCH + ".rope.scaling.type", "linear")
                .putFloat32(ARCH + ".rope.scaling.factor", ROPE_LINEAR_FACTOR)
                .putString("tokenizer.ggml.model", "llama")
                .putStrings("tokenizer.ggml.tokens", tokens)
                .putFloats("tokenizer.ggml.scores", scores)
                .putInts("tokenizer.ggml.token_type", types)
                .putUint32("tokenizer.ggml.bos_token_id", tokenizer.specialTokens().bos())
                .putUint32("tokenizer.ggml.eos_token_id", tokenizer.specialTokens().eos())
                .putUint32("tokenizer.ggml.unknown_token_id", tokenizer.specialTokens().unk())
                .putUint32("tokenizer.ggml.padding_token_id", tokenizer.specialTokens().pad())
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putBool("tokenizer.ggml.add_eos_token", false);

        int h = dims.hidden();
        int q = dims.heads() * dims.headDim();
        int kv = dims.kvHeads() * dims.headDim();
        int ff = dims.intermediate();
        int n = dims.layers();
        GgmlType linear = mix == Mix.Q4_0 ? GgmlType.Q4_0 : GgmlType.Q4_K;
        // Tied head: llama-quantize gives token_embd the output tensor's type (Q6_K, or Q8_0 when rows don't fit 256).
        weight(w, seed, "token_embd.weight", h, dims.vocab(), h % GgmlType.Q6_K.blockElements == 0 ? GgmlType.Q6_K : GgmlType.Q8_0);
        for (int i = 0; i < n; i++) {
            String p = "blk." + i + ".";
            boolean moreBits = mix == Mix.Q4_K_M && useMoreBits(i, n);
            norm(w, seed, p + "attn_norm.weight", h);
            weight(w, seed, p + "attn_q.weight", h, q, linear);
            weight(w, seed, p + "attn_k.weight", h, kv, linear);
            weight(w, seed, p + "attn_v.weight", h, kv, moreBits ? GgmlType.Q6_K : linear);
            norm(w, seed, p + "attn_q_norm.weight", dims.headDim());
            norm(w, seed, p + "attn_k_norm.weight", dims.headDim());
            weight(w, seed, p + "attn_output.weight", q, h, linear);
            norm(w, seed, p + "post_attention_norm.weight", h);
            norm(w, seed, p + "ffn_norm.weight", h);
            weight(w, seed, p + "ffn_gate.weight", h, ff, linear);
            weight(w, seed, p + "ffn_up.weight", h, ff, linear);
            weight(w, seed, p + "ffn_down.weight", ff, h, moreBits ? GgmlType.Q6_K : linear);
            norm(w, seed, p + "post_ffw_norm.weight", h);
        }
        norm(w, seed, "output_norm.weight", h);
        Files.createDirectories(file.toAbsolutePath().getParent());
        w.write(file);
        return Files.size(file);
    }

    /** llama-quantize's {@code use_more_bits}: the first and last eighth of the layers and every third between. */
    static boolean useMoreBits(int layer, int layers) {
        return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
    }

    private static void norm(GgufWriter w, long seed, String name, int size) {
        SeededFloats values = SeededFloats.random(seed, name, 1f, 0.1f, size);
        w.tensor(name, new long[] {size}, GgmlType.F32.id, GgmlType.F32.bytes(size), out -> {
            ByteBuffer b = ByteBuffer.allocate(4 * size).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < size; i++) {
                b.putFloat(values.at(i));
            }
            out.write(b.array());
        });
    }

    /** A linear weight of {@code rows} rows of {@code rowLength} (GGUF dims {rowLength, rows}). */
    private static void weight(GgufWriter w, long seed, String name, long rowLength, long rows, GgmlType type) {
        if (rowLength % type.blockElements != 0) {
            throw new IllegalArgumentException(name + ": rows of " + rowLength + " do not fit " + type
                    + " blocks of " + type.blockElements + " (use sizes that are multiples of 256 for Q4_K_M)");
        }
        long blocks = rowLength * rows / type.blockElements;
        long stream = SeededFloats.mix(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        w.tensor(name, new long[] {rowLength, rows}, type.id, blocks * type.blockBytes, out -> writeBlocks(out, type, blocks, stream));
    }

    private static void writeBlocks(OutputStream out, GgmlType type, long blocks, long stream) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(type.blockBytes * 4096).order(ByteOrder.LITTLE_ENDIAN);
        long counter = 0;
        for (long block = 0; block < blocks; block++) {
            if (chunk.remaining() < type.blockBytes) {
                out.write(chunk.array(), 0, chunk.position());
                chunk.clear();
            }
            int start = chunk.position();
            // Random bytes for the whole block, then the scale fields overwritten with sane values.
            for (int i = 0; i < type.blockBytes; i += 8) {
                long r = SeededFloats.mix(stream + counter++ * 0xD1B54A32D192ED03L);
                for (int j = 0; j < 8 && i + j < type.blockBytes; j++) {
                    chunk.put((byte) (r >>> (8 * j)));
                }
            }
            float jitter = 0.75f + 0.5f * (chunk.get(start + type.blockBytes - 1) & 0xff) / 255f;
            switch (type) {
                // d * (q - 8), q a nibble: sd(q - 8) ~ 4.6
                case Q4_0 -> chunk.putShort(start, fp16(jitter * WEIGHT_STD / 4.6));
                // d * q, q an int8: sd ~ 74
                case Q8_0 -> chunk.putShort(start, fp16(jitter * WEIGHT_STD / 74));
                // d * sc * q - dmin * m with 6-bit sc, m from the 12 random scale bytes: sd ~ d * 32 * 4.6
                case Q4_K -> {
                    chunk.putShort(start, fp16(jitter * WEIGHT_STD / 147));
                    chunk.putShort(start + 2, fp16(jitter * WEIGHT_STD / 147));
                }
                // d * sc * (q - 32), q 6 bits, sc int8 kept to 1..16: sd ~ d * 8.5 * 18.5
                case Q6_K -> {
                    for (int s = 0; s < 16; s++) {
                        int at = start + 192 + s;
                        chunk.put(at, (byte) (1 + (chunk.get(at) & 0x0f)));
                    }
                    chunk.putShort(start + 208, fp16(jitter * WEIGHT_STD / 157));
                }
                default -> throw new IllegalArgumentException(type + " is not a block type");
            }
        }
        out.write(chunk.array(), 0, chunk.position());
    }

    /** IEEE half precision of a positive value in the normal range (what the scales need). */
    static short fp16(double value) {
        int bits = Float.floatToIntBits((float) value);
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        if (value <= 0 || exponent < 1 || exponent > 30) {
            throw new IllegalArgumentException("not a normal positive half: " + value);
        }
        int mantissa = (bits >>> 13) & 0x3ff;
        return (short) ((exponent << 10) | mantissa);
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: GgufForge FILE q4_0|q4_k_m [4b|tiny] [sliding_window]");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        Mix mix = Mix.parse(args[1]);
        ForgeDims dims = args.length > 2 && args[2].equals("tiny") ? tinyQ4km() : ForgeDims.medGemma4bShape();
        int window = args.length > 3 ? Integer.parseInt(args[3]) : dims.maxPositions();
        long t0 = System.nanoTime();
        long bytes = forge(file, dims, mix, window, 1);
        System.out.printf("forged %s (%s, %d layers, hidden %d, sliding window %d): %.2f GB in %.0f s%n", file, mix,
                dims.layers(), dims.hidden(), window, bytes / 1e9, (System.nanoTime() - t0) / 1e9);
    }

    /** The smallest shape every mix can write: rows that are multiples of 256. */
    static ForgeDims tinyQ4km() {
        return new ForgeDims(256, 2, 2, 1, 128, 512, 640, 1024, 32, 8);
    }
}
