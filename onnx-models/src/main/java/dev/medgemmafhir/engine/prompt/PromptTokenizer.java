package dev.medgemmafhir.engine.prompt;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.medgemmafhir.engine.model.ModelLoadException;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The model directory's own {@code tokenizer.json}, run by the Rust HF tokenizers through DJL.
 * Text is always encoded without adding special tokens: the rendered prompt already starts with
 * {@code <bos>}, and a second one is a known pitfall. Thread-safe.
 */
public final class PromptTokenizer implements AutoCloseable {

    static {
        // DJL's tokenizer library: the jar holds its CPU build. On a host where DJL sees a GPU it
        // would pick a CUDA build instead and download it at run time: on an air-gapped GPU node no
        // tokenizer would load, and elsewhere the server would fetch native code from the internet.
        // Tokenizing needs no GPU: the CPU build, never a download, unless the operator sets
        // RUST_FLAVOR or DJL_OFFLINE (DJL's own switches) otherwise.
        pinUnlessSet("RUST_FLAVOR", "RUST_FLAVOR", "cpu");
        pinUnlessSet("DJL_OFFLINE", "ai.djl.offline", "true");
    }

    private final HuggingFaceTokenizer tokenizer;

    private PromptTokenizer(HuggingFaceTokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    /** Loads {@code dir/tokenizer.json}; fails naming the file. */
    public static PromptTokenizer load(Path dir) {
        Path file = dir.resolve("tokenizer.json");
        try {
            HuggingFaceTokenizer t = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(file)
                    .optAddSpecialTokens(false)
                    .optTruncation(false)
                    .optPadding(false)
                    .build();
            return new PromptTokenizer(t);
        } catch (IOException | RuntimeException e) {
            throw ModelLoadException.at(dir, file, "cannot load tokenizer: " + e.getMessage(), e);
        }
    }

    /** Token ids of {@code text}, special-token strings in it matched as special tokens, nothing added. */
    public int[] encode(String text) {
        long[] ids = tokenizer.encode(text, false, false).getIds();
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** Text of {@code ids[from, to)}; special tokens dropped when {@code skipSpecial}. */
    public String decode(int[] ids, int from, int to, boolean skipSpecial) {
        long[] l = new long[to - from];
        for (int i = from; i < to; i++) {
            l[i - from] = ids[i];
        }
        return tokenizer.decode(l, skipSpecial);
    }

    public String decode(int[] ids, boolean skipSpecial) {
        return decode(ids, 0, ids.length, skipSpecial);
    }

    /** The id of {@code token} when the tokenizer maps that exact string to one token, else -1. */
    public int singleTokenId(String token) {
        int[] ids = encode(token);
        return ids.length == 1 ? ids[0] : -1;
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private static void pinUnlessSet(String env, String property, String value) {
        if (System.getenv(env) == null && System.getProperty(property) == null) {
            System.setProperty(property, value);
        }
    }
}
