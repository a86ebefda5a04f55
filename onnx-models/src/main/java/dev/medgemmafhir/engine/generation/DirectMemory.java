package dev.medgemmafhir.engine.generation;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;

/** The JVM's limit on direct buffers, where the KV cache lives: {@code -XX:MaxDirectMemorySize}, by default the heap limit. */
public final class DirectMemory {

    /** {@code sun.misc.Unsafe}, whose {@code invokeCleaner} frees a direct buffer now; null where the JVM has none. */
    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private DirectMemory() {
    }

    private static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            return null;
        }
    }

    /**
     * Gives a direct buffer's memory back now instead of when the collector finds it unreachable, which for a buffer that
     * outlived a long prefill can be much later (its native memory meanwhile counts against the limit and stays
     * resident). The caller guarantees that nothing reads or writes it afterwards: no view, no slice, no ONNX Runtime
     * tensor in use. Only a buffer from {@link ByteBuffer#allocateDirect}, not a slice or view of one; anything else is
     * left to the collector.
     */
    public static void free(ByteBuffer buffer) {
        if (UNSAFE == null || buffer == null || !buffer.isDirect()) {
            return;
        }
        try {
            UNSAFE.invokeCleaner(buffer);
        } catch (IllegalArgumentException sliceOrView) {
            // Not the buffer that owns the memory: the collector frees it with its owner.
        }
    }

    /** The limit in bytes. */
    public static long limit() {
        try {
            HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
            long configured = vm == null ? 0 : Long.parseLong(vm.getVMOption("MaxDirectMemorySize").getValue());
            if (configured > 0) {
                return configured;
            }
        } catch (RuntimeException | LinkageError notHotSpot) {
            // A JVM without the option: the default rule below is the JDK's own.
        }
        return Runtime.getRuntime().maxMemory();
    }

    /**
     * The KV-cache budget of a model that configures none: half the limit, leaving the rest to the caches of prompts
     * being read before they join the batch, and to the logits and input buffers.
     */
    public static long defaultKvCacheBudget(long directMemoryLimit) {
        return directMemoryLimit / 2;
    }
}
