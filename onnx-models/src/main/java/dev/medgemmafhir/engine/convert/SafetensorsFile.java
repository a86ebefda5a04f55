package dev.medgemmafhir.engine.convert;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the raw little-endian data. The header is read once;
 * tensor bytes are read on demand in bounded chunks (positional reads rather than a mapping: pages of
 * a mapping stay resident until the garbage collector unmaps it, pages read through a small buffer do
 * not), so reading a 54 GB checkpoint holds only the chunk being converted.
 */
public final class SafetensorsFile implements AutoCloseable {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long MAX_HEADER_BYTES = 100L << 20;

    /** Element types the converter reads. */
    public enum DType {
        F32(4), F16(2), BF16(2);

        final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /** One stored tensor: its file, dtype, shape and absolute byte range. */
    public record Tensor(SafetensorsFile file, String name, DType dtype, long[] shape, long offset, long length) {

        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        /** Elements per index of the first axis. */
        public long rowLength() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) {
                n *= shape[i];
            }
            return n;
        }

        /** Reads {@code count} elements starting at element {@code first}, widened to float32. */
        public void read(long first, float[] dst, int dstOffset, int count) throws IOException {
            file.readFloats(this, first, dst, dstOffset, count);
        }

        /** The whole tensor as floats (only for tensors that fit a Java array). */
        public float[] readAll() throws IOException {
            float[] all = new float[Math.toIntExact(elements())];
            read(0, all, 0, all.length);
            return all;
        }
    }

    private final Path path;
    private final FileChannel channel;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();

    private SafetensorsFile(Path path, FileChannel channel) {
        this.path = path;
        this.channel = channel;
    }

    /** Opens a file and validates its header against its size (a truncated file fails here). */
    public static SafetensorsFile open(Path path) {
        FileChannel channel;
        try {
            channel = FileChannel.open(path, StandardOpenOption.READ);
        } catch (IOException e) {
            throw ConversionException.at(path, "cannot open: " + e.getMessage());
        }
        SafetensorsFile f = new SafetensorsFile(path, channel);
        try {
            f.readHeader();
            return f;
        } catch (IOException e) {
            f.close();
            throw ConversionException.at(path, "unreadable: " + e.getMessage());
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private void readHeader() throws IOException {
        long size = channel.size();
        if (size < 8) {
            throw ConversionException.at(path, "not a safetensors file (" + size + " bytes)");
        }
        ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(lengthBytes, 0);
        long headerLength = lengthBytes.getLong(0);
        if (headerLength <= 0 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > size) {
            throw ConversionException.at(path, "not a safetensors file or truncated (header length " + headerLength
                    + ", file " + size + " bytes)");
        }
        ByteBuffer header = ByteBuffer.allocate((int) headerLength);
        readFully(header, 8);
        JsonNode root;
        try {
            root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw ConversionException.at(path, "header is not JSON: " + e.getMessage());
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().equals("__metadata__")) {
                continue;
            }
            JsonNode t = e.getValue();
            String dtypeName = t.path("dtype").asText();
            DType dtype;
            try {
                dtype = DType.valueOf(dtypeName);
            } catch (IllegalArgumentException ex) {
                throw ConversionException.at(path, "tensor " + e.getKey() + " has dtype " + dtypeName
                        + "; the converter reads BF16, F16 and F32");
            }
            JsonNode shapeNode = t.path("shape");
            long[] shape = new long[shapeNode.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong();
                elements *= shape[i];
            }
            JsonNode offsets = t.path("data_offsets");
            long begin = offsets.path(0).asLong(-1);
            long end = offsets.path(1).asLong(-1);
            if (begin < 0 || end < begin || end - begin != elements * dtype.bytes) {
                throw ConversionException.at(path, "tensor " + e.getKey() + ": data_offsets " + offsets
                        + " do not match its shape and dtype");
            }
            if (end > dataSize) {
                throw ConversionException.at(path, "truncated: tensor " + e.getKey() + " ends at byte " + (dataStart + end)
                        + " but the file has " + size);
            }
            tensors.put(e.getKey(), new Tensor(this, e.getKey(), dtype, shape, dataStart + begin, end - begin));
        }
    }

    public Path path() {
        return path;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    private static final int CHUNK_BYTES = 8 << 20;
    private final ThreadLocal<ByteBuffer> chunk = ThreadLocal.withInitial(
            () -> ByteBuffer.allocateDirect(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN));

    private void readFloats(Tensor t, long first, float[] dst, int dstOffset, int count) throws IOException {
        if (first < 0 || first + count > t.elements()) {
            throw new IndexOutOfBoundsException(t.name() + ": elements " + first + "+" + count + " of " + t.elements());
        }
        int width = t.dtype().bytes;
        ByteBuffer buf = chunk.get();
        int perChunk = CHUNK_BYTES / width;
        int done = 0;
        while (done < count) {
            int n = Math.min(perChunk, count - done);
            buf.clear().limit(n * width);
            readFully(buf, t.offset() + (first + done) * width);
            buf.flip();
            int o = dstOffset + done;
            switch (t.dtype()) {
                case F32 -> buf.asFloatBuffer().get(dst, o, n);
                case BF16 -> {
                    for (int i = 0; i < n; i++) {
                        dst[o + i] = Float.intBitsToFloat((buf.getShort(i * 2) & 0xFFFF) << 16);
                    }
                }
                case F16 -> {
                    for (int i = 0; i < n; i++) {
                        dst[o + i] = halfToFloat(buf.getShort(i * 2));
                    }
                }
            }
            done += n;
        }
    }

    private void readFully(ByteBuffer buf, long position) throws IOException {
        long at = position;
        while (buf.hasRemaining()) {
            int r = channel.read(buf, at);
            if (r < 0) {
                throw ConversionException.at(path, "truncated: ends at byte " + at);
            }
            at += r;
        }
    }

    /** IEEE 754 binary16 to float32, subnormals and infinities included. */
    static float halfToFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exponent = (bits >>> 10) & 0x1F;
        int mantissa = bits & 0x3FF;
        if (exponent == 0x1F) {
            return Float.intBitsToFloat(sign | 0x7F800000 | (mantissa << 13));
        }
        if (exponent == 0) {
            float v = mantissa * 0x1.0p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only; nothing to lose
        }
    }
}
