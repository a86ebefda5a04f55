package dev.medgemmafhir.engine;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A flag another thread sets to stop a generation. The engine also registers a hook that aborts
 * the ONNX Runtime call in progress, so a cancelled generation stops within one step.
 */
public final class Cancellation {

    private volatile boolean cancelled;
    private final List<Runnable> hooks = new CopyOnWriteArrayList<>();

    /** A fresh, not yet cancelled signal. */
    public static Cancellation create() {
        return new Cancellation();
    }

    /** A signal nobody holds, for callers that never cancel. */
    public static Cancellation none() {
        return new Cancellation();
    }

    /** Requests the stop; safe to call from any thread, any number of times. */
    public void cancel() {
        if (cancelled) {
            return;
        }
        cancelled = true;
        for (Runnable hook : hooks) {
            hook.run();
        }
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /**
     * Runs {@code hook} on cancellation (immediately if already cancelled). Returns a handle that
     * removes the hook; the engine removes its hooks when the generation ends.
     */
    public AutoCloseable onCancel(Runnable hook) {
        hooks.add(hook);
        if (cancelled) {
            hook.run();
        }
        return () -> hooks.remove(hook);
    }
}
