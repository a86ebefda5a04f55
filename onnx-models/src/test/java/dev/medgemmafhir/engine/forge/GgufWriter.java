package dev.medgemmafhir.engine.forge;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a GGUF (version 3) file, the container llama.cpp loads: header, typed key/value metadata,
 * tensor descriptors, then each tensor's bytes at an offset aligned to {@value #ALIGNMENT} bytes.
 * Little-endian throughout. Dimensions are given as GGUF stores them: {@code ne[0]} first, the
 * length of a contiguous row (so a [out, in] linear weight is {@code {in, out}}).
 *
 * <p>Only what the forge needs: scalar uint32 / int32 / float32 / bool / string values and arrays
 * of strings, float32 and int32. Tensor bytes come from a {@link Payload} that streams them, so a
 * multi-gigabyte model never sits in memory.
 */
final class GgufWriter {

    static final int ALIGNMENT = 32;
    private static final int VERSION = 3;

    // gguf_type
    private static final int UINT32 = 4;
    private static final int INT32 = 5;
    private static final int FLOAT32 = 6;
    private static final int BOOL = 7;
    private static final int STRING = 8;
    private static final int ARRAY = 9;

    /** Streams exactly {@code bytes} bytes of one tensor. */
    @FunctionalInterface
    interface Payload {
        void writeTo(OutputStream out) throws IOException;
    }

    private record Tensor(String name, long[] dims, int ggmlType, long bytes, Payload payload) {
    }

    private final List<byte[]> metadata = new ArrayList<>();
    private final List<Tensor> tensors = new ArrayList<>();

    GgufWriter putUint32(String key, long value) {
        return put(key, UINT32, b -> b.putInt((int) value), 4);
    }

    GgufWriter putInt32(String key, int value) {
        return put(key, INT32, b -> b.putInt(value), 4);
    }

    GgufWriter putFloat32(String key, float value) {
        return put(key, FLOAT32, b -> b.putFloat(value), 4);
    }

    GgufWriter putBool(String key, boolean value) {
        return put(key, BOOL, b -> b.put((byte) (value ? 1 : 0)), 1);
    }

    GgufWriter putString(String key, String value) {
        byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
        return put(key, STRING, b -> putString(b, utf8), 8 + utf8.length);
    }

    GgufWriter putStrings(String key, List<String> values) {
        List<byte[]> utf8 = values.stream().map(s -> s.getBytes(StandardCharsets.UTF_8)).toList();
        int size = 12 + utf8.stream().mapToInt(s -> 8 + s.length).sum();
        return put(key, ARRAY, b -> {
            b.putInt(STRING).putLong(utf8.size());
            utf8.forEach(s -> putString(b, s));
        }, size);
    }

    GgufWriter putFloats(String key, float[] values) {
        return put(key, ARRAY, b -> {
            b.putInt(FLOAT32).putLong(values.length);
            for (float v : values) {
                b.putFloat(v);
            }
        }, 12 + 4 * values.length);
    }

    GgufWriter putInts(String key, int[] values) {
        return put(key, ARRAY, b -> {
            b.putInt(INT32).putLong(values.length);
            for (int v : values) {
                b.putInt(v);
            }
        }, 12 + 4 * values.length);
    }

    /** Adds a tensor; {@code bytes} must be what {@code payload} writes. */
    GgufWriter tensor(String name, long[] dims, int ggmlType, long bytes, Payload payload) {
        tensors.add(new Tensor(name, dims.clone(), ggmlType, bytes, payload));
        return this;
    }

    /** Writes the file; fails if a payload wrote a different number of bytes than announced. */
    void write(Path file) throws IOException {
        try (CountingStream out = new CountingStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 20))) {
            ByteBuffer header = le(24);
            header.put("GGUF".getBytes(StandardCharsets.US_ASCII)).putInt(VERSION).putLong(tensors.size()).putLong(metadata.size());
            out.write(header.array());
            for (byte[] kv : metadata) {
                out.write(kv);
            }
            long offset = 0;
            for (Tensor t : tensors) {
                byte[] name = t.name().getBytes(StandardCharsets.UTF_8);
                ByteBuffer info = le(8 + name.length + 4 + 8 * t.dims().length + 4 + 8);
                putString(info, name);
                info.putInt(t.dims().length);
                for (long d : t.dims()) {
                    info.putLong(d);
                }
                info.putInt(t.ggmlType()).putLong(offset);
                out.write(info.array());
                offset = align(offset + t.bytes());
            }
            pad(out);
            long dataStart = out.count;
            for (Tensor t : tensors) {
                long before = out.count;
                t.payload().writeTo(out);
                if (out.count - before != t.bytes()) {
                    throw new IllegalStateException(t.name() + ": wrote " + (out.count - before) + " bytes, announced " + t.bytes());
                }
                pad(out);
            }
            if (out.count - dataStart != offset) {
                throw new IllegalStateException("data section is " + (out.count - dataStart) + " bytes, expected " + offset);
            }
        }
    }

    static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    private GgufWriter put(String key, int type, java.util.function.Consumer<ByteBuffer> value, int valueBytes) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = le(8 + k.length + 4 + valueBytes);
        putString(b, k);
        b.putInt(type);
        value.accept(b);
        if (b.hasRemaining()) {
            throw new IllegalStateException(key + ": value size miscounted");
        }
        metadata.add(b.array());
        return this;
    }

    private static void putString(ByteBuffer b, byte[] utf8) {
        b.putLong(utf8.length).put(utf8);
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static void pad(CountingStream out) throws IOException {
        out.write(new byte[(int) (align(out.count) - out.count)]);
    }

    private static final class CountingStream extends OutputStream {
        private final OutputStream out;
        long count;

        CountingStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            out.write(b);
            count++;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            count += len;
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
