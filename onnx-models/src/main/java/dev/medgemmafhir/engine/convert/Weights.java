package dev.medgemmafhir.engine.convert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Checkpoint tensors as ONNX initializers, converted while they are written: widened to fp32,
 * transposed for {@code MatMul}, {@code 1 + w} for Gemma's norms, or 4-bit blocks, with a LoRA
 * adapter merged into the linear weights it adapts. Each streams
 * through a bounded buffer, except a transposed linear weight, which is held once (the largest,
 * 27B's MLP, is 460 MB of fp32).
 */
final class Weights {

    private static final int CHUNK_FLOATS = 1 << 20;

    private final Checkpoint checkpoint;
    private final ConversionProgress progress;
    private final LoraAdapter adapter;

    /** @param adapter merged into the linear weights it adapts; null for none */
    Weights(Checkpoint checkpoint, ConversionProgress progress, LoraAdapter adapter) {
        this.checkpoint = checkpoint;
        this.progress = progress;
        this.adapter = adapter;
    }

    Checkpoint checkpoint() {
        return checkpoint;
    }

    /** As stored, widened to fp32, same shape. */
    TensorData fp32(SafetensorsFile.Tensor t) {
        return streamed(t.shape(), t, 0f, 1f);
    }

    /** {@code 1 + w} in fp32, as Gemma's RMSNorm scales. */
    TensorData plusOne(SafetensorsFile.Tensor t) {
        return streamed(t.shape(), t, 1f, 1f);
    }

    /** {@code (1 + w) * factor} in fp32: a norm scale with a constant factor folded in. */
    TensorData plusOneTimes(SafetensorsFile.Tensor t, float factor) {
        return streamed(t.shape(), t, 1f, factor);
    }

    /** A torch linear weight {@code [out, in]} as the right operand of {@code MatMul}: {@code [in, out]}. */
    TensorData transposed(SafetensorsFile.Tensor t) {
        int out = Math.toIntExact(t.shape()[0]);
        int in = Math.toIntExact(t.rowLength());
        return new Stream(new long[] {in, out}) {
            @Override
            void produce(FloatSink sink) throws IOException {
                float[] w = t.readAll();
                String name = Checkpoint.normalise(t.name());
                if (adapter != null && adapter.adapts(name)) {
                    float[] row = new float[in];
                    for (int o = 0; o < out; o++) {
                        System.arraycopy(w, o * in, row, 0, in);
                        adapter.addToRow(name, o, row);
                        System.arraycopy(row, 0, w, o * in, in);
                    }
                }
                progress.advance(t.length());
                float[] row = new float[out];
                for (int i = 0; i < in; i++) {
                    for (int o = 0; o < out; o++) {
                        row[o] = w[o * in + i];
                    }
                    sink.put(row, out);
                }
            }
        };
    }

    /** 4-bit blocks of a torch linear weight {@code [out, in]}: row o of the weight is column o of {@code MatMul}'s W. */
    Int4BlockQuantizer quantized(SafetensorsFile.Tensor t, Q4Format format) {
        int out = Math.toIntExact(t.shape()[0]);
        int in = Math.toIntExact(t.rowLength());
        String name = Checkpoint.normalise(t.name());
        return new Int4BlockQuantizer(in, out, format, (n, column) -> {
            t.read((long) n * in, column, 0, in);
            if (adapter != null) {
                adapter.addToRow(name, n, column);
            }
            if (n == out - 1) {
                progress.advance(t.length());
            }
        });
    }

    private TensorData streamed(long[] shape, SafetensorsFile.Tensor t, float add, float factor) {
        return new Stream(shape) {
            @Override
            void produce(FloatSink sink) throws IOException {
                long total = t.elements();
                float[] buf = new float[(int) Math.min(CHUNK_FLOATS, total)];
                for (long at = 0; at < total; at += buf.length) {
                    int n = (int) Math.min(buf.length, total - at);
                    t.read(at, buf, 0, n);
                    if (add != 0f || factor != 1f) {
                        for (int i = 0; i < n; i++) {
                            buf[i] = (buf[i] + add) * factor;
                        }
                    }
                    sink.put(buf, n);
                }
                progress.advance(t.length());
            }
        };
    }

    /** Floats produced in order and written little-endian through one reused buffer. */
    private abstract static class Stream implements TensorData {
        interface FloatSink {
            void put(float[] values, int count) throws IOException;
        }

        private final long[] dims;

        Stream(long[] dims) {
            this.dims = dims;
        }

        abstract void produce(FloatSink sink) throws IOException;

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
            long n = Float.BYTES;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        @Override
        public void writeTo(ByteSink sink) throws IOException {
            ByteBuffer bytes = ByteBuffer.allocate(CHUNK_FLOATS * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            produce((values, count) -> {
                for (int i = 0; i < count; ) {
                    int n = Math.min(count - i, bytes.remaining() / Float.BYTES);
                    bytes.asFloatBuffer().put(values, i, n);
                    bytes.position(bytes.position() + n * Float.BYTES);
                    i += n;
                    if (!bytes.hasRemaining()) {
                        bytes.flip();
                        sink.put(bytes);
                        bytes.clear();
                    }
                }
            });
            bytes.flip();
            if (bytes.hasRemaining()) {
                sink.put(bytes);
            }
        }
    }
}
