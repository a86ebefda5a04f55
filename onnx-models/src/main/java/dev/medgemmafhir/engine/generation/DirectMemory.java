package dev.medgemmafhir.engine.generation;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;

/** The JVM's limit on direct buffers, where the KV cache lives: {@code -XX:MaxDirectMemorySize}, by default the heap limit. */
public final class DirectMemory {

    private DirectMemory() {
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
    public static long defaultKvCacheBudget() {
        return limit() / 2;
    }
}
