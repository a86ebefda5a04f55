package dev.medgemmafhir.engine.forge;

import dev.medgemmafhir.engine.convert.TensorData;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A float tensor whose element i is a pure function of (seed, tensor name, i): counter-based
 * randomness, so the fp32 and q4 variants of one seed hold the same weights, elements can be
 * read in any order (column-wise for quantization), and huge tensors stream without arrays.
 */
final class SeededFloats implements TensorData {

    /** Element value at a flat row-major index. */
    @FunctionalInterface
    interface Values {
        float at(long index);
    }

    private final long[] dims;
    private final Values values;
    private final long count;

    SeededFloats(long[] dims, Values values) {
        this.dims = dims.clone();
        this.values = values;
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        this.count = n;
    }

    /** Uniform values with mean {@code mean} and standard deviation {@code std}. */
    static SeededFloats random(long seed, String name, float mean, float std, long... dims) {
        long stream = mix(seed * 0x9E3779B97F4A7C15L + name.hashCode());
        float halfWidth = (float) (std * Math.sqrt(3.0));
        return new SeededFloats(dims, i -> mean + halfWidth * uniformSigned(stream, i));
    }

    static SeededFloats of(float[] data, long... dims) {
        return new SeededFloats(dims, i -> data[(int) i]);
    }

    /** A value in [-1, 1) derived from the stream and the index alone. */
    static float uniformSigned(long stream, long index) {
        long bits = mix(stream + index * 0xD1B54A32D192ED03L);
        return (float) ((bits >>> 40) * 0x1.0p-24 * 2.0 - 1.0);
    }

    /** SplitMix64's finaliser: a fast bijective scramble of 64 bits. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    float at(long index) {
        return values.at(index);
    }

    long count() {
        return count;
    }

    @Override
    public int dataType() {
        return FLOAT;
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    @Override
    public long byteLength() {
        return count * Float.BYTES;
    }

    @Override
    public void writeTo(ByteSink sink) throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate(1 << 18).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < count; i++) {
            if (chunk.remaining() < Float.BYTES) {
                chunk.flip();
                sink.put(chunk);
                chunk.clear();
            }
            chunk.putFloat(values.at(i));
        }
        chunk.flip();
        sink.put(chunk);
    }
}
