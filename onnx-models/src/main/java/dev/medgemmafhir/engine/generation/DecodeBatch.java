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
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.engine.model.GraphNames;
import dev.medgemmafhir.engine.model.GraphSignatures;
import dev.medgemmafhir.engine.model.SlidingWindowCache;

import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Decode steps shared by the concurrent generations of one model: one decoder run per step for
 * every sequence in the batch. Decoding reads every weight once per step whatever the batch size,
 * so on a memory-bound machine a batch of n costs little more than one sequence.
 *
 * <p>Each generation prefills alone, then joins with its first token. Its prefill runs take turns with the batch's
 * steps ({@link DecoderTurns}): prompts are read earliest first, and the batch steps between their runs (chunks).
 * Between steps, sequences that left are dropped and sequences that finished their prefill are added; a step runs
 * once every member has handed in its next token. The cache is {@code [rows, kv_heads, columns, head_dim]} per layer with every sequence
 * left-padded to the longest: padding columns have {@code attention_mask} 0 and each row has its
 * own {@code position_ids}, so a row computes what it would alone (up to float rounding of the
 * larger matrix products). With a standard-attention graph the cache lives in two direct buffers
 * per tensor: the step reads the past from one and ONNX Runtime writes the present into the other
 * (pinned outputs), then they swap; nothing is allocated per step, but every step copies the whole
 * cache. With a graph whose attention can share them ({@code kvCacheSharedBuffer}, the converter's
 * fused GroupQueryAttention graph) one buffer per tensor, with room for the next
 * {@value #SHARED_GROWTH_COLUMNS} columns, is passed as both past and pinned present: ONNX Runtime
 * writes only the new column into it, so a step no longer copies the cache (it is laid out again
 * when the room runs out, or a sequence joins or leaves), and the batch holds one cache instead of two.
 * When the graph also names its sliding-window layers ({@link SlidingWindowCache}), each layout keeps
 * only their last {@code window - 1} columns (and the same free room): a sliding layer attends to
 * no more, and ONNX Runtime's GroupQueryAttention computes every step over the whole cache it is
 * given, so at long contexts those layers' steps read and compute a window instead of the context.
 * The columns they dropped are marked {@link GraphNames#SLIDING_EVICTED_MASK_VALUE} in the mask.
 *
 * <p>Admission is by {@link #reserve}: at most {@code maxRows} sequences, and at most as many as keep
 * the batch's cache buffers within the budget at the longest sequence's final length (by default half
 * the JVM's direct-memory limit, {@link DirectMemory}). A request that cannot fit even alone is
 * refused; others wait for room.
 */
public final class DecodeBatch implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(DecodeBatch.class.getName());
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(1 << 16);
    /** Spare columns allocated when a cache buffer grows, so that it grows once per this many steps. */
    private static final int HEADROOM_COLUMNS = 64;
    /**
     * Shared mode: columns a layout leaves free for the steps to write into, up to the longest final length. When they
     * run out the cache is laid out again (one copy per this many steps, instead of one per step).
     */
    private static final int SHARED_GROWTH_COLUMNS = 256;

    private final ModelRuntime rt;
    private final GraphSignatures.Decoder sig;
    private final int maxRows;
    private final long budgetBytes;
    private final long bytesPerToken;
    private final int columnBytes;
    private final int vocab;
    /** Past and present are one buffer (see the class comment). */
    private final boolean shared;
    /** The sliding-window layers whose cache is kept short; null when every layer keeps every column. */
    private final SlidingWindowCache sliding;

    /** Who runs the decoder next: a batch step, or one prefill run of a joining generation. */
    private final DecoderTurns turns = new DecoderTurns();
    private final Object lock = new Object();
    private final List<Reservation> reservations = new ArrayList<>();
    private final List<Seat> joining = new ArrayList<>();
    private final Set<String> presentNames = new LinkedHashSet<>();
    private final long[] stepsByRows;
    private final long[] nanosByRows;
    private volatile long peakCacheBytes;
    private Thread worker;
    private boolean closed;

    // Worker state.
    private final List<Seat> rows = new ArrayList<>();
    private int columns;
    /** Columns each (row, head) block of the cache buffers holds: {@code columns} with two buffers, more when shared. */
    private int stride;
    /** The sliding layers' columns and block stride ({@code columns} and {@code stride} when none are kept short). */
    private int slidingColumns;
    private int slidingStride;
    private ByteBuffer[] past;
    private ByteBuffer[] spare;
    /** Shared mode: the last layout, kept while the batch is idle for the next layout to reuse; null otherwise. */
    private ByteBuffer[] idle;
    private ByteBuffer logitsBuffer;

    /**
     * @param maxRows sequences decoded together at most
     * @param budgetBytes bytes both cache buffers of the batch may take; 0 for {@link DirectMemory#defaultKvCacheBudget(long)}
     *     (no limit would let a batch fail every sequence in it when the JVM refuses a direct buffer)
     */
    public DecodeBatch(ModelRuntime rt, int maxRows, long budgetBytes) {
        if (maxRows < 1 || budgetBytes < 0) {
            throw new IllegalArgumentException("batch size must be >= 1 and the KV-cache budget >= 0");
        }
        this.rt = rt;
        this.sig = rt.decoderSignature();
        this.maxRows = maxRows;
        long directLimit = DirectMemory.limit();
        this.budgetBytes = budgetBytes > 0 ? budgetBytes : DirectMemory.defaultKvCacheBudget(directLimit);
        if (budgetBytes > DirectMemory.defaultKvCacheBudget(directLimit)) {
            LOG.log(Level.WARNING, "KV-cache budget of {0} bytes is more than half the JVM''s direct-memory limit ({1} bytes,"
                    + " -XX:MaxDirectMemorySize): a full batch may fail every sequence in it", budgetBytes, directLimit);
        }
        this.columnBytes = Math.toIntExact(sig.headDim() * (sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4));
        this.bytesPerToken = 2L * sig.layers() * sig.kvHeads() * columnBytes;
        this.vocab = (int) sig.vocab();
        this.shared = sig.sharedKvBuffer();
        this.sliding = shared ? sig.slidingCache() : null;
        for (int i = 0; i < sig.layers(); i++) {
            presentNames.add(sig.presentKeys()[i]);
            presentNames.add(sig.presentValues()[i]);
        }
        this.stepsByRows = new long[maxRows + 1];
        this.nanosByRows = new long[maxRows + 1];
    }

    /** Cache bytes one sequence holds per token of context (keys and values of every layer). */
    public long bytesPerToken() {
        return bytesPerToken;
    }

    public int maxRows() {
        return maxRows;
    }

    // ---- admission ----

    /** A place in the batch, held from before the prefill to the end of the generation. */
    public final class Reservation implements AutoCloseable {
        private final int finalLength;
        private boolean released;

        private Reservation(int finalLength) {
            this.finalLength = finalLength;
        }

        @Override
        public void close() {
            synchronized (lock) {
                if (!released) {
                    released = true;
                    reservations.remove(this);
                    lock.notifyAll();
                }
            }
        }
    }

    /**
     * Waits until a sequence that may grow to {@code finalLength} tokens fits in the batch, and reserves its place.
     *
     * @return null when cancelled while waiting
     * @throws InvalidInputException it would not fit even alone
     */
    public Reservation reserve(int finalLength, Cancellation cancellation) {
        if (cacheBytes(1, finalLength) > budgetBytes) {
            throw new InvalidInputException("prompt and answer (" + finalLength + " tokens) need " + cacheBytes(1, finalLength)
                    + " bytes of KV cache, more than the model's KV-cache budget of " + budgetBytes + " bytes");
        }
        synchronized (lock) {
            while (!fits(finalLength)) {
                if (closed) {
                    throw new IllegalStateException("model is closed");
                }
                if (cancellation.isCancelled()) {
                    return null;
                }
                waitQuietly(200);
            }
            Reservation r = new Reservation(finalLength);
            reservations.add(r);
            return r;
        }
    }

    private boolean fits(int finalLength) {
        if (reservations.size() >= maxRows) {
            return false;
        }
        int longest = finalLength;
        for (Reservation r : reservations) {
            longest = Math.max(longest, r.finalLength);
        }
        return cacheBytes(reservations.size() + 1, longest) <= budgetBytes;
    }

    /**
     * The cache buffers (past and present, or the one shared buffer) of {@code rows} sequences padded to {@code columns},
     * at most: sliding layers kept short hold their window and the free room of a layout.
     */
    private long cacheBytes(int rows, int columns) {
        if (sliding == null) {
            return (shared ? 1L : 2L) * rows * columns * bytesPerToken;
        }
        long perLayerColumn = bytesPerToken / sig.layers();
        int slidingLayers = sliding.slidingLayerCount();
        long slidingColumnsAtMost = Math.min(columns, (long) sliding.keptColumns() + SHARED_GROWTH_COLUMNS);
        return rows * perLayerColumn * ((long) (sig.layers() - slidingLayers) * columns + slidingLayers * slidingColumnsAtMost);
    }

    /** The decoder held for one prefill run; close to let the batch step again. */
    public interface Turn extends AutoCloseable {
        @Override
        void close();
    }

    /** A generation's prefill begins: its runs go after those of prefills that began before it ({@link DecoderTurns}). */
    public Prefill prefill() {
        return new Prefill(turns.beginPrefill());
    }

    /** One joining generation's prefill, from its first run to its last; close it when the prefill ends or fails. */
    public final class Prefill implements AutoCloseable {
        private final DecoderTurns.Prefill order;

        private Prefill(DecoderTurns.Prefill order) {
            this.order = order;
        }

        /**
         * Waits for this prefill's next decoder run; null when cancelled while waiting.
         *
         * @param tokens prompt tokens the run reads (0 for a run that reads none)
         * @param last the prefill's last run: closing it hands the decoder to the batch, whose next step the sequence
         *     joins
         */
        public Turn turn(Cancellation cancellation, int tokens, boolean last) {
            if (!order.acquire(cancellation, tokens)) {
                return null;
            }
            return last ? order::handOver : turns::release;
        }

        /** The sequence ends without joining the batch: the decoder its last run handed over goes to the next prompt. */
        public void withdrawHandOver() {
            order.withdrawHandOver();
        }

        @Override
        public void close() {
            order.close();
        }
    }

    // ---- joining and stepping ----

    /**
     * Hands a prefilled sequence to the batch.
     *
     * @param cache the prefill's {@code present.*} outputs as the direct buffers it pinned them to, per cache tensor
     *     {@code [1, kv_heads, columns, head_dim]}: {@code length} columns, or on a sliding layer kept short at least its
     *     window's (a chunked prefill drops older ones); the batch takes them over (read when it lays the cache out)
     * @param length tokens in that cache
     */
    public Seat join(ByteBuffer[] cache, int length, int finalLength, Cancellation cancellation) {
        if (cache == null || cache.length != 2 * sig.layers()) {
            throw new EngineException("a prefill cache of " + (cache == null ? 0 : cache.length) + " tensors for "
                    + 2 * sig.layers());
        }
        int[] columnsOf = new int[cache.length];
        for (int t = 0; t < cache.length; t++) {
            columnsOf[t] = Math.toIntExact(cache[t].capacity() / (sig.kvHeads() * columnBytes));
            int needed = isWindowed(t) ? Math.min(length, sliding.keptColumns()) : length;
            if (columnsOf[t] < needed || columnsOf[t] > length) {
                throw new EngineException("prefill cache tensor " + t + " has " + columnsOf[t] + " columns for " + length + " tokens");
            }
        }
        return new Seat(cache, columnsOf, length, finalLength, cancellation);
    }

    /** One generation's row in the batch. Used by its own thread; {@link #wake()} from any. */
    public final class Seat implements AutoCloseable {
        private final Cancellation cancellation;
        private final int finalLength;
        private float[] logits;
        private ByteBuffer[] prefillCache;
        private int[] prefillColumns;
        private int length;
        private int token;
        private boolean ready;
        private boolean delivered;
        private boolean leaving;
        private RuntimeException failure;

        private Seat(ByteBuffer[] prefillCache, int[] prefillColumns, int length, int finalLength, Cancellation cancellation) {
            this.prefillCache = prefillCache;
            this.prefillColumns = prefillColumns;
            this.finalLength = finalLength;
            this.length = length;
            this.cancellation = cancellation;
            this.logits = vocab > 0 ? new float[vocab] : null;
        }

        /**
         * Feeds {@code next} at the sequence's next position and waits for the step.
         *
         * @return the logits that follow it (the seat's own array, overwritten by the next step); null when cancelled
         */
        public float[] step(int next) {
            synchronized (lock) {
                if (closed) {
                    throw new IllegalStateException("model is closed");
                }
                token = next;
                ready = true;
                delivered = false;
                if (prefillCache != null && !joining.contains(this) && !rows.contains(this)) {
                    joining.add(this);
                    startWorker();
                }
                lock.notifyAll();
                while (!delivered && failure == null) {
                    if (cancellation.isCancelled() || closed) {
                        return null;
                    }
                    waitQuietly(0);
                }
                if (failure != null) {
                    throw failure;
                }
                return logits;
            }
        }

        /** Wakes the thread waiting in {@link #step} (after its cancellation was signalled). */
        public void wake() {
            synchronized (lock) {
                lock.notifyAll();
            }
        }

        /** Leaves the batch; the others go on. */
        @Override
        public void close() {
            synchronized (lock) {
                leaving = true;
                joining.remove(this);
                lock.notifyAll();
            }
        }
    }

    private void startWorker() {
        if (worker == null) {
            worker = new Thread(this::loop, "medgemma-decode-batch");
            worker.setDaemon(true);
            worker.start();
        }
    }

    private void loop() {
        try (OrtSession.RunOptions options = new OrtSession.RunOptions()) {
            while (true) {
                List<Seat> target;
                synchronized (lock) {
                    while (true) {
                        if (closed) {
                            return;
                        }
                        target = new ArrayList<>();
                        for (Seat s : rows) {
                            if (!s.leaving) {
                                target.add(s);
                            }
                        }
                        target.addAll(joining);
                        if (!target.isEmpty() && target.stream().allMatch(s -> s.ready)) {
                            joining.clear();
                            break;
                        }
                        if (target.isEmpty() && past != null && rows.isEmpty()) {
                            // Idle: a shared cache's layout stays for the next one to reuse (fresh direct memory
                            // costs a page fault per 4 KiB: about a second per 300 MB on a 2-core VM, paid again by
                            // every request joining an empty batch); the two buffers of the other mode are let go.
                            idle = shared ? past : null;
                            past = spare = null;
                            logitsBuffer = null;
                            columns = 0;
                            slidingColumns = 0;
                        }
                        if (target.isEmpty() && !rows.isEmpty()) {
                            rows.clear();
                            turns.batchEmpty();
                            continue;
                        }
                        waitQuietly(0);
                    }
                }
                try {
                    int nearestEnd = Integer.MAX_VALUE;
                    for (Seat s : target) {
                        nearestEnd = Math.min(nearestEnd, s.finalLength - s.length);
                    }
                    // Held from before the layout: a joining sequence's step is asked for as soon as it is due.
                    turns.acquireStep(nearestEnd);
                    try {
                        if (!target.equals(rows)) {
                            rebuild(target);
                        }
                        step(options);
                    } finally {
                        turns.release();
                    }
                } catch (Throwable e) {
                    RuntimeException failure = e instanceof RuntimeException re ? re
                            : new EngineException("ONNX Runtime failed during a batched decode step: " + e.getMessage(), e);
                    LOG.log(Level.WARNING, "batched decode step of {0} sequences failed: {1}", target.size(), e.getMessage());
                    synchronized (lock) {
                        for (Seat s : target) {
                            s.failure = failure;
                        }
                        rows.clear();
                        past = spare = null;
                        idle = null;
                        columns = 0;
                        slidingColumns = 0;
                        lock.notifyAll();
                    }
                }
            }
        } catch (OrtException e) {
            LOG.log(Level.ERROR, "could not create run options for batched decoding: {0}", e.getMessage());
        }
    }

    /**
     * Lays the cache out for {@code target}: survivors and joiners, each left-padded to the longest. Sliding layers kept
     * short get each row's last {@code window - 1} columns at most, left-padded to the longest of those.
     */
    private void rebuild(List<Seat> target) {
        int newColumns = 0;
        int longest = 0;
        for (Seat s : target) {
            newColumns = Math.max(newColumns, s.length);
            longest = Math.max(longest, s.finalLength);
        }
        int newStride;
        int newSlidingColumns = sliding == null ? newColumns : Math.min(newColumns, sliding.keptColumns());
        int newSlidingStride;
        if (shared) {
            // Room for the next steps (up to the longest final length): they write in place until it runs out.
            newStride = Math.max(newColumns + 1, Math.min(longest, newColumns + SHARED_GROWTH_COLUMNS));
            // The same room on the sliding layers, so that both run out at the same step.
            newSlidingStride = newSlidingColumns + (newStride - newColumns);
            spare = new ByteBuffer[2 * sig.layers()]; // allocated tensor by tensor below
        } else {
            newStride = newColumns;
            newSlidingStride = newStride;
            spare = ensure(spare, target, newColumns);
        }
        int heads = (int) sig.kvHeads();
        for (int t = 0; t < spare.length; t++) {
            boolean windowed = isWindowed(t);
            int dstColumns = windowed ? newSlidingColumns : newColumns;
            int dstStride = windowed ? newSlidingStride : newStride;
            if (shared) {
                spare[t] = reuseOrAllocate(t, (long) target.size() * heads * dstStride * columnBytes);
            }
            ByteBuffer dst = spare[t];
            for (int r = 0; r < target.size(); r++) {
                Seat s = target.get(r);
                ByteBuffer src;
                int srcRow;
                int srcStride;
                int srcColumns;
                int old = rows.indexOf(s);
                if (old >= 0) {
                    src = past[t];
                    srcRow = old;
                    srcStride = windowed ? slidingStride : stride;
                    srcColumns = windowed ? slidingColumns : columns;
                } else {
                    src = s.prefillCache[t];
                    srcRow = 0;
                    srcStride = s.prefillColumns[t];
                    srcColumns = s.prefillColumns[t];
                }
                // The row's newest columns: all of them, or on a short layer those its window still needs.
                int kept = Math.min(s.length, dstColumns);
                int len = kept * columnBytes;
                for (int h = 0; h < heads; h++) {
                    int from = Math.toIntExact(((long) (srcRow * heads + h) * srcStride + srcColumns - kept) * columnBytes);
                    int block = Math.toIntExact((long) (r * heads + h) * dstStride * columnBytes);
                    int pad = (dstColumns - kept) * columnBytes;
                    zero(dst, block, pad);
                    dst.put(block + pad, src, from, len);
                }
            }
            if (shared) {
                // This tensor's old layout and the joiners' prefill buffers go now, not after the last tensor: a layout
                // holds one cache and one tensor more at its peak, not two caches.
                if (past != null) {
                    DirectMemory.free(past[t]); // its last step's tensors are closed; a slice is left to the collector
                    past[t] = null;
                }
                for (Seat s : target) {
                    if (!rows.contains(s)) {
                        DirectMemory.free(s.prefillCache[t]); // the prefill's own buffer, handed over at the join
                        s.prefillCache[t] = null;
                    }
                }
            }
        }
        synchronized (lock) {
            for (Seat s : target) {
                if (s.prefillCache != null && !shared) {
                    for (ByteBuffer b : s.prefillCache) {
                        DirectMemory.free(b); // copied into the layout above; the prefill's own buffers
                    }
                }
                s.prefillCache = null;
                s.prefillColumns = null;
            }
            rows.clear();
            rows.addAll(target);
        }
        idle = null; // what it had of use was taken above
        ByteBuffer[] swap = past;
        past = spare;
        spare = shared ? null : swap;
        long held = 0;
        for (ByteBuffer[] buffers : new ByteBuffer[][] {past, spare}) {
            for (int t = 0; buffers != null && t < buffers.length; t++) {
                held += buffers[t] == null ? 0 : buffers[t].capacity();
            }
        }
        peakCacheBytes = Math.max(peakCacheBytes, held);
        columns = newColumns;
        stride = newStride;
        slidingColumns = newSlidingColumns;
        slidingStride = newSlidingStride;
    }

    /** Whether cache tensor {@code t} (key and value of each layer in turn) belongs to a sliding layer kept to its window. */
    private boolean isWindowed(int t) {
        return sliding != null && sliding.sliding(t / 2);
    }

    /**
     * Tensor {@code t} of the layout kept while the batch was idle, cut to {@code bytes}, when it is large enough; else a
     * fresh buffer (the kept one is let go first). Its free columns hold old values: nothing reads a column before a
     * step or the layout writes it, and padding is written with zeros.
     */
    private ByteBuffer reuseOrAllocate(int t, long bytes) {
        ByteBuffer kept = idle == null ? null : idle[t];
        if (idle != null) {
            idle[t] = null;
        }
        if (kept != null && kept.capacity() >= bytes) {
            return kept.slice(0, (int) bytes).order(ByteOrder.nativeOrder());
        }
        DirectMemory.free(kept);
        return allocate(bytes);
    }

    /** A fresh direct buffer for one cache tensor. */
    private static ByteBuffer allocate(long bytes) {
        if (bytes > Integer.MAX_VALUE) {
            throw new EngineException("a KV-cache tensor of " + bytes + " bytes does not fit one direct buffer; lower the batch size");
        }
        return ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.nativeOrder());
    }

    /**
     * {@code buffers} with room for {@code seats} at {@code needed} columns; a grown buffer keeps nothing (only spare
     * buffers grow). Growth adds up to {@link #HEADROOM_COLUMNS} columns, never past the longest final length, so the
     * cache stays within what {@link #reserve} admitted.
     */
    private ByteBuffer[] ensure(ByteBuffer[] buffers, List<Seat> seats, int needed) {
        if (buffers == null) {
            buffers = new ByteBuffer[2 * sig.layers()];
        }
        int longest = needed;
        for (Seat s : seats) {
            longest = Math.max(longest, s.finalLength);
        }
        long perColumn = (long) seats.size() * sig.kvHeads() * columnBytes;
        long bytes = perColumn * needed;
        long grown = perColumn * Math.min(longest, needed + HEADROOM_COLUMNS);
        if (grown > Integer.MAX_VALUE) {
            grown = bytes;
        }
        for (int t = 0; t < buffers.length; t++) {
            if (buffers[t] == null || buffers[t].capacity() < bytes) {
                buffers[t] = null;
                buffers[t] = ByteBuffer.allocateDirect(Math.toIntExact(grown)).order(ByteOrder.nativeOrder());
            }
        }
        return buffers;
    }

    private void step(OrtSession.RunOptions options) throws OrtException {
        if (shared && columns + 1 > stride) {
            rebuild(new ArrayList<>(rows)); // the free columns ran out: lay out again with more
        }
        int n = rows.size();
        int total = columns + 1;
        int heads = (int) sig.kvHeads();
        if (!shared) {
            spare = ensure(spare, rows, total);
        }
        LongBuffer ids = directLongs(n);
        LongBuffer mask = directLongs(n * total);
        LongBuffer positions = directLongs(n);
        synchronized (lock) {
            for (int r = 0; r < n; r++) {
                Seat s = rows.get(r);
                ids.put(r, s.token);
                positions.put(r, (long) rt.firstPosition() + s.length);
                int padding = columns - s.length;
                int evicted = columns - slidingColumns;
                for (int j = 0; j < total; j++) {
                    mask.put(r * total + j, j < padding ? 0L : j < evicted ? GraphNames.SLIDING_EVICTED_MASK_VALUE : 1L);
                }
            }
        }
        List<AutoCloseable> opened = new ArrayList<>();
        OrtSession.Result result = null;
        OrtSession.Result embedded = null;
        long t0 = System.nanoTime();
        try {
            Map<String, OnnxTensorLike> inputs = new HashMap<>();
            OnnxTensor idTensor = track(opened, OnnxTensor.createTensor(rt.env(), ids, new long[] {n, 1}));
            if (sig.takesEmbeds()) {
                embedded = rt.embedder().run(Map.of(rt.embedderSignature().input(), idTensor), options);
                inputs.put(sig.tokenInput(), (OnnxTensor) embedded.get(rt.embedderSignature().output()).orElseThrow());
            } else {
                inputs.put(sig.tokenInput(), idTensor);
            }
            inputs.put(sig.attentionMask(), track(opened, OnnxTensor.createTensor(rt.env(), mask, new long[] {n, total})));
            if (sig.positionIds() != null) {
                inputs.put(sig.positionIds(), track(opened, OnnxTensor.createTensor(rt.env(), positions, new long[] {n, 1})));
            }
            if (sig.numLogitsToKeep() != null) {
                inputs.put(sig.numLogitsToKeep(), track(opened, OnnxTensor.createTensor(rt.env(), directLongs(1).put(0, 1L), new long[0])));
            }
            if (sig.useCacheBranch() != null) {
                inputs.put(sig.useCacheBranch(), track(opened, OnnxTensor.createTensor(rt.env(), new boolean[] {true})));
            }
            Map<String, OnnxValue> pinned = new HashMap<>();
            long[] pastShape = {n, heads, shared ? stride : columns, sig.headDim()};
            long[] presentShape = {n, heads, shared ? stride : total, sig.headDim()};
            long[] windowedShape = {n, heads, slidingStride, sig.headDim()};
            ByteBuffer[] present = shared ? past : spare;
            for (int i = 0; i < sig.layers(); i++) {
                boolean windowed = isWindowed(2 * i);
                inputs.put(sig.pastKeys()[i], track(opened, cacheTensor(past[2 * i], windowed ? windowedShape : pastShape)));
                inputs.put(sig.pastValues()[i], track(opened, cacheTensor(past[2 * i + 1], windowed ? windowedShape : pastShape)));
                pinned.put(sig.presentKeys()[i], track(opened, cacheTensor(present[2 * i], windowed ? windowedShape : presentShape)));
                pinned.put(sig.presentValues()[i], track(opened, cacheTensor(present[2 * i + 1], windowed ? windowedShape : presentShape)));
            }
            int elem = sig.logitsType() == OnnxJavaType.FLOAT16 ? 2 : 4;
            ByteBuffer logitsBytes = null;
            Set<String> requested = Set.of();
            if (vocab > 0) {
                if (logitsBuffer == null || logitsBuffer.capacity() < Math.multiplyExact(n * vocab, elem)) {
                    logitsBuffer = ByteBuffer.allocateDirect(Math.multiplyExact(maxRows * vocab, elem)).order(ByteOrder.nativeOrder());
                }
                logitsBytes = logitsBuffer.duplicate().position(0).limit(n * vocab * elem).slice().order(ByteOrder.nativeOrder());
                pinned.put(sig.logits(), track(opened, OnnxTensor.createTensor(rt.env(), logitsBytes, new long[] {n, 1, vocab}, sig.logitsType())));
            } else {
                requested = Set.of(sig.logits());
            }
            result = rt.decoder().run(inputs, requested, pinned, options);
            long nanos = System.nanoTime() - t0;
            deliver(logitsBytes, vocab > 0 ? null : (OnnxTensor) result.get(sig.logits()).orElseThrow(), n, nanos);
        } finally {
            if (result != null) {
                result.close();
            }
            if (embedded != null) {
                embedded.close();
            }
            for (int i = opened.size() - 1; i >= 0; i--) {
                try {
                    opened.get(i).close();
                } catch (Exception ignored) {
                    // closing a tensor does not fail
                }
            }
        }
    }

    private void deliver(ByteBuffer logitsBytes, OnnxTensor copied, int n, long nanos) {
        synchronized (lock) {
            for (int r = 0; r < n; r++) {
                Seat s = rows.get(r);
                if (copied != null) {
                    long[] shape = copied.getInfo().getShape();
                    int cols = (int) shape[shape.length - 1];
                    float[] row = new float[cols];
                    FloatBuffer all = copied.getFloatBuffer();
                    all.get(r * cols, row, 0, cols);
                    s.logits = row;
                } else if (sig.logitsType() == OnnxJavaType.FLOAT) {
                    logitsBytes.asFloatBuffer().get(r * vocab, s.logits, 0, vocab);
                } else {
                    var halves = logitsBytes.asShortBuffer();
                    for (int i = 0; i < vocab; i++) {
                        s.logits[i] = Fp16Conversions.fp16ToFloat(halves.get(r * vocab + i));
                    }
                }
                s.length++;
                s.ready = false;
                s.delivered = true;
            }
            stepsByRows[n]++;
            nanosByRows[n] += nanos;
            lock.notifyAll();
        }
        columns++;
        slidingColumns++;
        if (!shared) {
            ByteBuffer[] swap = past;
            past = spare;
            spare = swap;
            stride = columns;
        }
    }

    /**
     * Decode steps run so far by batch size: index {@code n} holds the number of steps with {@code n} rows and the
     * nanoseconds they took ({@code [steps, nanos]} pairs); what {@code bench --concurrency} reports.
     */
    public long[][] stepStatistics() {
        synchronized (lock) {
            return new long[][] {stepsByRows.clone(), nanosByRows.clone()};
        }
    }

    /** The most bytes the batch's KV-cache buffers have held at once (one layout, both buffers when they swap). */
    public long peakCacheBytes() {
        return peakCacheBytes;
    }

    private OnnxTensor cacheTensor(ByteBuffer buffer, long[] shape) throws OrtException {
        long bytes = shape[0] * shape[1] * shape[2] * shape[3] * (sig.kvType() == OnnxJavaType.FLOAT16 ? 2 : 4);
        ByteBuffer view = buffer.duplicate().position(0).limit(Math.toIntExact(bytes)).slice().order(ByteOrder.nativeOrder());
        return OnnxTensor.createTensor(rt.env(), view, shape, sig.kvType());
    }

    private static <T extends AutoCloseable> T track(List<AutoCloseable> opened, T t) {
        opened.add(t);
        return t;
    }

    private static void zero(ByteBuffer dst, int at, int length) {
        for (int done = 0; done < length; ) {
            int n = Math.min(ZEROS.capacity(), length - done);
            dst.put(at + done, ZEROS, 0, n);
            done += n;
        }
    }

    private static LongBuffer directLongs(int n) {
        return ByteBuffer.allocateDirect(Math.max(n, 1) * 8).order(ByteOrder.nativeOrder()).asLongBuffer();
    }

    private void waitQuietly(long millis) {
        try {
            lock.wait(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EngineException("interrupted while waiting for the decode batch", e);
        }
    }

    /** Stops the worker; generations still in the batch end as cancelled or failed. */
    @Override
    public void close() {
        Thread w;
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
            w = worker;
        }
        if (w != null) {
            try {
                w.join(TimeUnit.SECONDS.toMillis(60));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        past = spare = idle = null;
    }
}
