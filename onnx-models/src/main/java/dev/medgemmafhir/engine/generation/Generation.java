package dev.medgemmafhir.engine.generation;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxTensorLike;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.platform.Fp16Conversions;
import dev.medgemmafhir.engine.Cancellation;
import dev.medgemmafhir.engine.EngineException;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.StopReason;
import dev.medgemmafhir.engine.TextStreamListener;
import dev.medgemmafhir.engine.model.GraphNames;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import dev.medgemmafhir.engine.prompt.StopStrings;
import dev.medgemmafhir.engine.prompt.StreamingDetokenizer;
import dev.medgemmafhir.engine.sampling.TokenSampler;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One request's generation: its KV cache, its sampler, its text. Created per request from a shared
 * {@link ModelRuntime}; not shared between threads (except {@link Cancellation}).
 *
 * <p>Prefill runs the prompt (image features merged into the embeddings) with an all-ones mask,
 * positions counted from {@link ModelRuntime#firstPosition()} and empty past tensors; then each
 * decode step feeds the new token with the mask one column longer, the next position and the
 * previous step's {@code present.*} outputs passed straight in as {@code past_key_values.*}.
 * Only the last position's logits are read, from a reused direct buffer that ONNX Runtime writes
 * into (a pinned output). Without {@code num_logits_to_keep} the prompt is prefilled in chunks so
 * that [chunk x vocab] logits stay within {@code RuntimeOptions.logitsBudgetBytes}.
 */
public final class Generation {

    private static final System.Logger LOG = System.getLogger(Generation.class.getName());

    private final ModelRuntime rt;
    private final GraphSignatures.Decoder sig;
    private final int[] prompt;
    private final List<float[]> images;
    private final GenerationParams params;
    private final TextStreamListener listener;
    private final Cancellation cancellation;
    private final boolean stopAtEos;
    private final DecodeBatch batch;

    private final Object terminateLock = new Object();
    private boolean finished;

    // Native state; every tensor is closed in close().
    private OrtSession.RunOptions runOptions;
    private OrtSession.Result past;
    /**
     * Between prefill runs of a model with a sliding-window cache: per cache tensor, the sliding layers' last
     * {@code window - 1} columns copied out of {@link #past} (null for global layers), fed instead of the whole present.
     */
    private OnnxTensor[] slidingPast;
    private int slidingPastColumns;
    /**
     * A batched model's prefill writes its cache into these direct buffers (pinned outputs), per cache tensor, instead
     * of ONNX Runtime's own memory: joining the batch and dropping a sliding layer's old columns then read them where
     * they are, where a copy out of ONNX Runtime went through the Java heap (a GC cycle per tensor, about a second
     * at 1,024 tokens of the 4B). Null before the first run and when decoding alone.
     */
    private ByteBuffer[] pinnedPast;
    private OnnxTensor[] pinnedPastTensors;
    private OnnxTensor[] emptyPast;
    private OnnxTensor keepOne;
    private OnnxTensor cacheBranchOn;
    private OnnxTensor cacheBranchOff;
    private DecodeBatch.Seat seat;
    /** A batched model's prefill order, kept to withdraw its hand-over when the sequence ends without joining. */
    private DecodeBatch.Prefill prefillOrder;

    // Reused buffers.
    private LongBuffer ones;
    private LongBuffer positions;
    private LongBuffer tokenIds;
    private ByteBuffer embeds;
    private ByteBuffer logitsBytes;
    private FloatBuffer logitsFloats;
    private ShortBuffer logitsHalves;
    private float[] logitsRow;
    private int vocab;
    private Set<String> presentNames;

    public Generation(ModelRuntime rt, int[] promptIds, List<float[]> pixelValues, GenerationParams params, TextStreamListener listener,
                      Cancellation cancellation) {
        this(rt, promptIds, pixelValues, params, listener, cancellation, true, null);
    }

    /**
     * @param stopAtEos false to decode exactly {@code params.maxNewTokens()} tokens whatever they are: benchmarks need a
     *     fixed amount of work, and a random-weight model emits end-of-sequence ids at random
     * @param batch the model's shared decode steps; null to decode alone
     */
    public Generation(ModelRuntime rt, int[] promptIds, List<float[]> pixelValues, GenerationParams params, TextStreamListener listener,
                      Cancellation cancellation, boolean stopAtEos, DecodeBatch batch) {
        this.stopAtEos = stopAtEos;
        this.batch = batch;
        this.rt = rt;
        this.sig = rt.decoderSignature();
        this.prompt = promptIds.clone();
        this.images = List.copyOf(pixelValues);
        this.params = params;
        this.listener = listener;
        this.cancellation = cancellation;
    }

    /** Signals that the run in progress was aborted by {@link Cancellation}. */
    private static final class Cancelled extends Exception {
        Cancelled() {
            super(null, null, false, false);
        }
    }

    /** Runs the generation to its end and frees its native memory. */
    public GenerationResult run() {
        int promptLength = prompt.length;
        if (promptLength == 0) {
            throw new InvalidInputException("empty prompt");
        }
        if (promptLength >= rt.contextLength()) {
            throw new InvalidInputException("prompt has " + promptLength + " tokens but the model's context holds " + rt.contextLength()
                    + " (at least one must remain for the answer)");
        }
        int limit = Math.min(params.maxNewTokens(), rt.contextLength() - promptLength);
        boolean contextBound = limit < params.maxNewTokens();
        long t0 = System.nanoTime();
        long tFirst = t0;

        TokenSampler sampler = TokenSampler.of(params, rt.defaultTopK(), rt.defaultTopP());
        StreamingDetokenizer detokenizer = new StreamingDetokenizer(rt.tokenizer());
        StopStrings stops = new StopStrings(params.stopStrings());
        StringBuilder text = new StringBuilder();
        int[] generated = new int[Math.min(limit, 1024)];
        int count = 0;
        StopReason reason;

        AutoCloseable hook = null;
        DecodeBatch.Reservation place = null;
        try {
            runOptions = new OrtSession.RunOptions();
            hook = cancellation.onCancel(this::terminate);
            if (batch != null) {
                place = batch.reserve(promptLength + limit, cancellation);
                if (place == null) {
                    throw new Cancelled();
                }
            }
            allocate(promptLength + limit);
            for (int id : prompt) {
                sampler.accept(id);
            }
            prefill();
            int next = sampler.next(logitsRow);
            tFirst = System.nanoTime();
            boolean thinking = false;
            while (true) {
                if (count == generated.length) {
                    generated = Arrays.copyOf(generated, Math.min(limit, count * 2));
                }
                generated[count++] = next;
                sampler.accept(next);
                if (stopAtEos && rt.isEos(next)) {
                    reason = StopReason.END_OF_SEQUENCE;
                    break;
                }
                if (next == rt.thinkStart() && rt.thinkStart() >= 0) {
                    thinking = true;
                } else if (next == rt.thinkEnd() && thinking) {
                    thinking = false;
                } else if (!thinking) {
                    emit(stops.accept(detokenizer.push(next)), text);
                    if (stops.stopped()) {
                        reason = StopReason.STOP_STRING;
                        break;
                    }
                }
                if (count >= limit) {
                    reason = contextBound ? StopReason.CONTEXT_FULL : StopReason.MAX_NEW_TOKENS;
                    break;
                }
                if (cancellation.isCancelled()) {
                    reason = StopReason.CANCELLED;
                    break;
                }
                if (batch != null) {
                    batchedStep(next, promptLength + limit);
                } else {
                    decodeStep(next, promptLength + count);
                }
                next = sampler.next(logitsRow);
            }
        } catch (Cancelled e) {
            reason = StopReason.CANCELLED;
        } catch (OrtException e) {
            throw new EngineException("ONNX Runtime failed during generation: " + e.getMessage(), e);
        } finally {
            synchronized (terminateLock) {
                finished = true;
            }
            closeQuietly(hook);
            closeQuietly(seat);
            if (seat == null && prefillOrder != null) {
                prefillOrder.withdrawHandOver();
            }
            closeQuietly(place);
            close();
        }
        if (reason != StopReason.STOP_STRING) {
            emit(stops.accept(detokenizer.flush()), text);
            emit(stops.flush(), text);
        }
        long tEnd = System.nanoTime();
        if (count == 0) {
            tFirst = tEnd;
        }
        GenerationResult result = new GenerationResult(text.toString(), prompt.clone(), Arrays.copyOf(generated, count), reason,
                (tFirst - t0) / 1e6, (tEnd - tFirst) / 1e6, rt.executionProvider());
        LOG.log(Level.DEBUG, () -> String.format("generation: prompt_tokens=%d images=%d generated=%d stop=%s prefill_ms=%.1f decode_tok_s=%.1f",
                promptLength, images.size(), result.generatedTokenIds().length, result.stopReason(), result.prefillMillis(),
                result.decodeTokensPerSecond()));
        return result;
    }

    private void emit(String delta, StringBuilder text) {
        if (!delta.isEmpty()) {
            text.append(delta);
            listener.onText(delta);
        }
    }

    private void terminate() {
        synchronized (terminateLock) {
            if (finished) {
                return;
            }
            if (seat != null) {
                seat.wake();
            }
            try {
                runOptions.setTerminate(true);
            } catch (OrtException e) {
                LOG.log(Level.WARNING, "could not abort the ONNX Runtime call in progress: {0}", e.getMessage());
            }
        }
    }

    // ---- buffers and fixed tensors ----

    private void allocate(int maxTotal) throws OrtException {
        ones = directLongs(maxTotal);
        for (int i = 0; i < maxTotal; i++) {
            ones.put(i, 1L);
        }
        int chunk = chunkLength(prompt.length);
        positions = directLongs(chunk);
        tokenIds = directLongs(chunk);
        vocab = (int) sig.vocab();
        if (vocab > 0) {
            int rows = sig.lastLogitsOnly() ? 1 : chunk;
            int elem = sig.logitsType() == OnnxJavaType.FLOAT16 ? 2 : 4;
            logitsBytes = ByteBuffer.allocateDirect(Math.multiplyExact(rows * vocab, elem)).order(ByteOrder.nativeOrder());
            logitsFloats = logitsBytes.asFloatBuffer();
            logitsHalves = logitsBytes.asShortBuffer();
            logitsRow = new float[vocab];
        }
        presentNames = new LinkedHashSet<>();
        for (int i = 0; i < sig.layers(); i++) {
            presentNames.add(sig.presentKeys()[i]);
            presentNames.add(sig.presentValues()[i]);
        }
        if (sig.numLogitsToKeep() != null) {
            keepOne = OnnxTensor.createTensor(rt.env(), directLongs(1).put(0, 1L), new long[0]);
        }
        if (sig.useCacheBranch() != null) {
            cacheBranchOn = OnnxTensor.createTensor(rt.env(), new boolean[] {true});
            cacheBranchOff = OnnxTensor.createTensor(rt.env(), new boolean[] {false});
        }
    }

    /**
     * Prompt tokens per prefill run: the configured length; else all of them when the graph keeps only the last logits,
     * else what the logits budget allows; and at most {@link RuntimeOptions#BATCHED_PREFILL_CHUNK_TOKENS} when several
     * sequences may decode together, since the batch's steps run between a joining prompt's runs ({@link DecoderTurns}).
     */
    private int chunkLength(int promptLength) {
        if (sig.imageMaskValue() != 0 && sig.lastLogitsOnly() && hasImageTokens()) {
            // An image split across two prefill runs could not attend to its later half: one run.
            return promptLength;
        }
        if (rt.options().prefillChunkTokens() > 0) {
            return Math.min(promptLength, rt.options().prefillChunkTokens());
        }
        int chunk = promptLength;
        if (batch != null) {
            if (batch.maxRows() > 1) {
                chunk = Math.min(chunk, RuntimeOptions.BATCHED_PREFILL_CHUNK_TOKENS);
            }
            if (sig.lastLogitsOnly() && sig.slidingCache() != null) {
                // Runs of one window at most: between them the sliding layers' cache is cut back to the window, so a
                // long prompt's sliding layers attend over at most two windows per token instead of the whole prompt.
                chunk = Math.min(chunk, Math.max(1, sig.slidingCache().window()));
            }
        }
        if (!sig.lastLogitsOnly()) {
            long columns = sig.vocab() > 0 ? sig.vocab() : 262_144;
            long elem = sig.logitsType() == OnnxJavaType.FLOAT16 ? 2 : 4;
            long rows = Math.max(1, rt.options().logitsBudgetBytes() / (columns * elem));
            chunk = (int) Math.min(chunk, rows);
        }
        return chunk;
    }

    /**
     * Ones; in a prefill run of a graph that marks images, the image tokens of this run carry the
     * graph's image value instead, so that the tokens of one image attend to each other.
     */
    private LongBuffer maskFor(int start, int len, boolean prompting) {
        int total = start + len;
        if (slidingPast != null) {
            // The tokens the sliding layers' cache no longer holds (GraphNames.SLIDING_EVICTED_MASK_VALUE); no images here.
            LongBuffer marked = directLongs(total);
            int evicted = start - slidingPastColumns;
            for (int i = 0; i < total; i++) {
                marked.put(i, i < evicted ? GraphNames.SLIDING_EVICTED_MASK_VALUE : 1L);
            }
            return marked;
        }
        if (!prompting || sig.imageMaskValue() == 0 || !hasImageTokens()) {
            return slice(ones, total);
        }
        LongBuffer marked = directLongs(total);
        for (int i = 0; i < total; i++) {
            marked.put(i, i >= start && prompt[i] == rt.imageTokenId() ? sig.imageMaskValue() : 1L);
        }
        return marked;
    }

    private boolean hasImageTokens() {
        for (int id : prompt) {
            if (id == rt.imageTokenId()) {
                return true;
            }
        }
        return false;
    }

    // ---- prefill and decode ----

    /**
     * The decoder for one prefill run: a batched model's prefill runs take turns with the batch's decode steps and with
     * other prompts ({@link DecoderTurns}); alone, nothing to wait for.
     */
    private DecodeBatch.Turn turn(DecodeBatch.Prefill order, int tokens, boolean last) throws Cancelled {
        if (order == null) {
            return () -> { };
        }
        DecodeBatch.Turn turn = order.turn(cancellation, tokens, last);
        if (turn == null) {
            throw new Cancelled();
        }
        return turn;
    }

    private void prefill() throws OrtException, Cancelled {
        prefillOrder = batch == null ? null : batch.prefill();
        try (DecodeBatch.Prefill order = prefillOrder) {
            prefill(order);
        }
    }

    private void prefill(DecodeBatch.Prefill order) throws OrtException, Cancelled {
        int promptLength = prompt.length;
        int chunk = chunkLength(promptLength);
        if (sig.takesEmbeds()) {
            try (DecodeBatch.Turn turn = turn(order, 0, false)) {
                embedPrompt();
            }
        }
        emptyPast = new OnnxTensor[2 * sig.layers()];
        long[] shape = {1, sig.kvHeads(), 0, sig.headDim()};
        for (int i = 0; i < emptyPast.length; i++) {
            emptyPast[i] = OnnxTensor.createTensor(rt.env(), ByteBuffer.allocateDirect(0), shape, sig.kvType());
        }
        for (int start = 0; start < promptLength; start += chunk) {
            if (cancellation.isCancelled()) {
                throw new Cancelled();
            }
            int len = Math.min(chunk, promptLength - start);
            OnnxTensor token;
            if (sig.takesEmbeds()) {
                int hidden = (int) rt.embedderSignature().hidden();
                int elem = elemSize(sig.embedsType());
                token = OnnxTensor.createTensor(rt.env(), slice(embeds, start * hidden * elem, len * hidden * elem),
                        new long[] {1, len, hidden}, sig.embedsType());
            } else {
                for (int i = 0; i < len; i++) {
                    tokenIds.put(i, prompt[start + i]);
                }
                token = OnnxTensor.createTensor(rt.env(), slice(tokenIds, len), new long[] {1, len});
            }
            try (token; DecodeBatch.Turn turn = turn(order, len, start + len >= promptLength)) {
                runDecoder(token, start, len, true);
            }
            if (start + len < promptLength && chunk < promptLength && sig.slidingCache() != null && batch != null) {
                evictSlidingColumns(start + len);
            }
        }
        for (OnnxTensor t : emptyPast) {
            t.close();
        }
        emptyPast = null;
        embeds = null;
    }

    private void decodeStep(int token, int total) throws OrtException, Cancelled {
        tokenIds.put(0, token);
        OnnxTensor ids = OnnxTensor.createTensor(rt.env(), slice(tokenIds, 1), new long[] {1, 1});
        OrtSession.Result embedded = null;
        try {
            OnnxTensor input = ids;
            if (sig.takesEmbeds()) {
                embedded = rt.embedder().run(Map.of(rt.embedderSignature().input(), ids), runOptions);
                input = (OnnxTensor) embedded.get(rt.embedderSignature().output()).orElseThrow();
            }
            runDecoder(input, total - 1, 1, false);
        } catch (OrtException e) {
            throw check(e);
        } finally {
            ids.close();
            if (embedded != null) {
                embedded.close();
            }
        }
    }

    /** Feeds {@code token} through the shared batch, joining it with the prefilled cache on the first call. */
    private void batchedStep(int token, int finalLength) throws OrtException, Cancelled {
        if (seat == null) {
            DecodeBatch.Seat joined = batch.join(pinnedPast, prompt.length, finalLength, cancellation);
            synchronized (terminateLock) {
                seat = joined;
            }
            past.close();
            past = null;
            closeAll(pinnedPastTensors); // the batch holds the buffers now
            pinnedPastTensors = null;
            pinnedPast = null;
        }
        float[] logits = seat.step(token);
        if (logits == null) {
            throw new Cancelled();
        }
        logitsRow = logits;
    }

    /** Runs the decoder on {@code len} tokens starting at sequence index {@code start}; leaves the last row of logits in {@link #logitsRow}. */
    private void runDecoder(OnnxTensor token, int start, int len, boolean prompting) throws OrtException, Cancelled {
        int total = start + len;
        Map<String, OnnxTensorLike> inputs = new HashMap<>();
        inputs.put(sig.tokenInput(), token);
        OnnxTensor mask = OnnxTensor.createTensor(rt.env(), maskFor(start, len, prompting), new long[] {1, total});
        OnnxTensor pos = null;
        OnnxTensor logits = null;
        OnnxTensor[] pinned = null;
        ByteBuffer[] pinnedBuffers = null;
        OrtSession.Result result = null;
        try {
            inputs.put(sig.attentionMask(), mask);
            if (sig.positionIds() != null) {
                for (int i = 0; i < len; i++) {
                    positions.put(i, (long) rt.firstPosition() + start + i);
                }
                pos = OnnxTensor.createTensor(rt.env(), slice(positions, len), new long[] {1, len});
                inputs.put(sig.positionIds(), pos);
            }
            if (keepOne != null) {
                inputs.put(sig.numLogitsToKeep(), keepOne);
            }
            if (sig.useCacheBranch() != null) {
                inputs.put(sig.useCacheBranch(), start > 0 ? cacheBranchOn : cacheBranchOff);
            }
            for (int i = 0; i < sig.layers(); i++) {
                inputs.put(sig.pastKeys()[i], start == 0 ? emptyPast[2 * i] : pastTensor(2 * i, sig.presentKeys()[i]));
                inputs.put(sig.pastValues()[i], start == 0 ? emptyPast[2 * i + 1] : pastTensor(2 * i + 1, sig.presentValues()[i]));
            }
            int rows = sig.lastLogitsOnly() ? 1 : len;
            Set<String> requested = new LinkedHashSet<>();
            Map<String, OnnxValue> written = new HashMap<>();
            if (prompting && batch != null) {
                pinnedBuffers = new ByteBuffer[2 * sig.layers()];
                pinned = pinPresents(start, len, pinnedBuffers);
                for (int t = 0; t < pinned.length; t++) {
                    written.put(t % 2 == 0 ? sig.presentKeys()[t / 2] : sig.presentValues()[t / 2], pinned[t]);
                }
            } else {
                requested.addAll(presentNames);
            }
            if (logitsBytes != null) {
                int elem = sig.logitsType() == OnnxJavaType.FLOAT16 ? 2 : 4;
                logits = OnnxTensor.createTensor(rt.env(), slice(logitsBytes, 0, rows * vocab * elem), new long[] {1, rows, vocab},
                        sig.logitsType());
                written.put(sig.logits(), logits);
            } else {
                requested.add(sig.logits());
            }
            result = rt.decoder().run(inputs, requested, written, runOptions);
            if (logitsBytes != null) {
                readLastRow(rows);
            } else {
                readLastRowCopy((OnnxTensor) result.get(sig.logits()).orElseThrow());
            }
        } catch (OrtException e) {
            if (result != null) {
                result.close();
            }
            closeAll(pinned);
            throw check(e);
        } catch (RuntimeException e) {
            closeAll(pinned);
            throw e;
        } finally {
            mask.close();
            if (pos != null) {
                pos.close();
            }
            if (logits != null) {
                logits.close();
            }
        }
        // The new presents are the next step's past; only now may the previous ones go.
        if (past != null) {
            past.close();
        }
        closeSlidingPast();
        closeAll(pinnedPastTensors);
        if (pinnedPast != null) {
            // The run that read them is over and their tensors are closed: nothing refers to them any more.
            for (ByteBuffer b : pinnedPast) {
                DirectMemory.free(b);
            }
        }
        past = result;
        pinnedPastTensors = pinned;
        pinnedPast = pinnedBuffers;
    }

    /**
     * Tensors over fresh direct buffers shaped as the presents of a run of {@code len} tokens after {@code start}: every
     * column given as past (a sliding layer's kept columns after an eviction) and the new ones; the buffers go into
     * {@code buffers}, one per cache tensor.
     */
    private OnnxTensor[] pinPresents(int start, int len, ByteBuffer[] buffers) throws OrtException {
        int elem = sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4;
        OnnxTensor[] tensors = new OnnxTensor[buffers.length];
        try {
            for (int t = 0; t < tensors.length; t++) {
                int pastColumns = start == 0 ? 0 : slidingPast != null && slidingPast[t] != null ? slidingPastColumns : start;
                long columns = pastColumns + len;
                long bytes = sig.kvHeads() * columns * sig.headDim() * elem;
                if (bytes > Integer.MAX_VALUE) {
                    throw new EngineException("a prefill cache tensor of " + bytes + " bytes does not fit one direct buffer");
                }
                buffers[t] = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
                tensors[t] = OnnxTensor.createTensor(rt.env(), buffers[t], new long[] {1, sig.kvHeads(), columns, sig.headDim()},
                        sig.kvType());
            }
        } catch (OrtException | RuntimeException e) {
            closeAll(tensors);
            throw e;
        }
        return tensors;
    }

    private static void closeAll(OnnxTensor[] tensors) {
        for (int t = 0; tensors != null && t < tensors.length; t++) {
            if (tensors[t] != null) {
                tensors[t].close();
            }
        }
    }

    private OnnxTensor pastTensor(int t, String presentName) {
        if (slidingPast != null && slidingPast[t] != null) {
            return slidingPast[t];
        }
        if (pinnedPastTensors != null) {
            return pinnedPastTensors[t];
        }
        OnnxValue v = past.get(presentName).orElseThrow(() -> new EngineException("decoder returned no '" + presentName + "'"));
        return (OnnxTensor) v;
    }

    /**
     * Keeps only the last {@code window - 1} of the {@code total} columns of each sliding layer's present for the next
     * prefill run (the global layers' presents are passed on whole); the mask then marks the columns dropped.
     */
    private void evictSlidingColumns(int total) throws OrtException {
        int kept = Math.min(total, sig.slidingCache().keptColumns());
        OnnxTensor[] next = new OnnxTensor[2 * sig.layers()];
        int elem = sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4;
        int column = Math.toIntExact(sig.headDim() * elem);
        int heads = (int) sig.kvHeads();
        try {
            for (int t = 0; t < next.length; t++) {
                if (!sig.slidingCache().sliding(t / 2)) {
                    continue;
                }
                String name = t % 2 == 0 ? sig.presentKeys()[t / 2] : sig.presentValues()[t / 2];
                ByteBuffer src = pinnedPast != null ? pinnedPast[t].duplicate().order(ByteOrder.nativeOrder())
                        : pastTensor(t, name).getByteBuffer();
                int srcColumns = src.remaining() / (heads * column);
                ByteBuffer dst = ByteBuffer.allocateDirect(heads * kept * column).order(ByteOrder.nativeOrder());
                for (int h = 0; h < heads; h++) {
                    dst.put(h * kept * column, src, (h * srcColumns + srcColumns - kept) * column, kept * column);
                }
                next[t] = OnnxTensor.createTensor(rt.env(), dst, new long[] {1, heads, kept, sig.headDim()}, sig.kvType());
            }
        } catch (OrtException | RuntimeException e) {
            for (OnnxTensor tensor : next) {
                if (tensor != null) {
                    tensor.close();
                }
            }
            throw e;
        }
        closeSlidingPast();
        slidingPast = next;
        slidingPastColumns = kept;
    }

    private void closeSlidingPast() {
        if (slidingPast != null) {
            for (OnnxTensor t : slidingPast) {
                if (t != null) {
                    t.close();
                }
            }
            slidingPast = null;
        }
    }

    private void readLastRow(int rows) {
        int offset = (rows - 1) * vocab;
        if (sig.logitsType() == OnnxJavaType.FLOAT) {
            logitsFloats.get(offset, logitsRow, 0, vocab);
        } else {
            for (int i = 0; i < vocab; i++) {
                logitsRow[i] = Fp16Conversions.fp16ToFloat(logitsHalves.get(offset + i));
            }
        }
    }

    /** Fallback for graphs whose vocabulary dimension is symbolic: copy the logits out. */
    private void readLastRowCopy(OnnxTensor logits) {
        long[] shape = logits.getInfo().getShape();
        int columns = (int) shape[shape.length - 1];
        int rows = (int) (logits.getInfo().getNumElements() / columns);
        if (logitsRow == null || logitsRow.length != columns) {
            logitsRow = new float[columns];
        }
        FloatBuffer all = logits.getFloatBuffer();
        all.get((rows - 1) * columns, logitsRow, 0, columns);
    }

    /** An ONNX Runtime failure after cancellation is the abort we asked for. */
    private OrtException check(OrtException e) throws Cancelled {
        if (cancellation.isCancelled()) {
            throw new Cancelled();
        }
        return e;
    }

    // ---- embeddings and images ----

    private void embedPrompt() throws OrtException, Cancelled {
        GraphSignatures.Embedder es = rt.embedderSignature();
        int promptLength = prompt.length;
        LongBuffer ids = directLongs(promptLength);
        for (int i = 0; i < promptLength; i++) {
            ids.put(i, prompt[i]);
        }
        try (OnnxTensor input = OnnxTensor.createTensor(rt.env(), ids, new long[] {1, promptLength});
             OrtSession.Result r = rt.embedder().run(Map.of(es.input(), input), runOptions)) {
            ByteBuffer out = ((OnnxTensor) r.get(es.output()).orElseThrow()).getByteBuffer();
            embeds = ByteBuffer.allocateDirect(out.remaining()).order(ByteOrder.nativeOrder());
            embeds.put(out).clear();
        } catch (OrtException e) {
            throw check(e);
        }
        mergeImages();
    }

    private void mergeImages() throws OrtException, Cancelled {
        int slots = 0;
        for (int id : prompt) {
            if (id == rt.imageTokenId()) {
                slots++;
            }
        }
        if (images.isEmpty() && slots == 0) {
            return;
        }
        if (rt.vision() == null) {
            throw new InvalidInputException("this model has no vision encoder; it cannot take images");
        }
        GraphSignatures.Vision vs = rt.visionSignature();
        int hidden = (int) rt.embedderSignature().hidden();
        long perImage = vs.tokensPerImage();
        if (perImage > 0 && slots != images.size() * perImage) {
            throw new InvalidInputException("the prompt has " + slots + " image tokens but " + images.size() + " image(s) of "
                    + perImage + " tokens were given (does the text contain image token strings?)");
        }
        int slot = 0;
        int cursor = 0;
        for (float[] pixels : images) {
            if (cancellation.isCancelled()) {
                throw new Cancelled();
            }
            long[] shape = {1, 3, vs.height(), vs.width()};
            try (OnnxTensor px = pixelTensor(pixels, shape, vs.inputType());
                 OrtSession.Result r = rt.vision().run(Map.of(vs.input(), px), runOptions)) {
                OnnxTensor features = (OnnxTensor) r.get(vs.output()).orElseThrow();
                long[] fs = features.getInfo().getShape();
                int tokens = (int) fs[1];
                if (fs[2] != hidden) {
                    throw new EngineException("vision encoder returned features of size " + fs[2] + ", embeddings have " + hidden);
                }
                ByteBuffer f = features.getByteBuffer().order(ByteOrder.nativeOrder());
                for (int t = 0; t < tokens; t++) {
                    while (cursor < prompt.length && prompt[cursor] != rt.imageTokenId()) {
                        cursor++;
                    }
                    if (cursor == prompt.length) {
                        throw new InvalidInputException("the prompt has " + slots + " image tokens, fewer than the image features");
                    }
                    copyRow(f, t, vs.outputType(), cursor, hidden);
                    cursor++;
                    slot++;
                }
            } catch (OrtException e) {
                throw check(e);
            }
        }
        if (slot != slots) {
            throw new InvalidInputException("the prompt has " + slots + " image tokens but the images gave " + slot + " features");
        }
    }

    private OnnxTensor pixelTensor(float[] pixels, long[] shape, OnnxJavaType type) throws OrtException {
        if (type == OnnxJavaType.FLOAT16) {
            ByteBuffer b = ByteBuffer.allocateDirect(pixels.length * 2).order(ByteOrder.nativeOrder());
            for (float p : pixels) {
                b.putShort(Fp16Conversions.floatToFp16(p));
            }
            b.clear();
            return OnnxTensor.createTensor(rt.env(), b, shape, OnnxJavaType.FLOAT16);
        }
        FloatBuffer b = ByteBuffer.allocateDirect(pixels.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        b.put(pixels).clear();
        return OnnxTensor.createTensor(rt.env(), b, shape);
    }

    /** Copies feature row {@code row} over the embedding of prompt position {@code position}, converting float32/float16 as needed. */
    private void copyRow(ByteBuffer features, int row, OnnxJavaType featureType, int position, int hidden) {
        OnnxJavaType embedType = sig.embedsType();
        int fe = elemSize(featureType);
        int ee = elemSize(embedType);
        for (int h = 0; h < hidden; h++) {
            int src = (row * hidden + h) * fe;
            int dst = (position * hidden + h) * ee;
            float v = featureType == OnnxJavaType.FLOAT ? features.getFloat(src) : Fp16Conversions.fp16ToFloat(features.getShort(src));
            if (embedType == OnnxJavaType.FLOAT) {
                embeds.putFloat(dst, v);
            } else {
                embeds.putShort(dst, Fp16Conversions.floatToFp16(v));
            }
        }
    }

    // ---- helpers ----

    private static int elemSize(OnnxJavaType type) {
        return type == OnnxJavaType.FLOAT16 ? 2 : 4;
    }

    private static LongBuffer directLongs(int n) {
        return ByteBuffer.allocateDirect(Math.max(n, 1) * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
    }

    private static LongBuffer slice(LongBuffer b, int n) {
        return b.duplicate().position(0).limit(n).slice();
    }

    private static ByteBuffer slice(ByteBuffer b, int from, int n) {
        return b.duplicate().position(from).limit(from + n).slice().order(ByteOrder.nativeOrder());
    }

    private void close() {
        if (past != null) {
            past.close();
            past = null;
        }
        closeAll(pinnedPastTensors);
        pinnedPastTensors = null;
        pinnedPast = null;
        closeSlidingPast();
        if (emptyPast != null) {
            for (OnnxTensor t : emptyPast) {
                t.close();
            }
            emptyPast = null;
        }
        for (OnnxTensor t : new OnnxTensor[] {keepOne, cacheBranchOn, cacheBranchOff}) {
            if (t != null) {
                t.close();
            }
        }
        keepOne = cacheBranchOn = cacheBranchOff = null;
        if (runOptions != null) {
            runOptions.close();
        }
        embeds = null;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // removing a hook cannot fail in a way that matters
            }
        }
    }
}
