package dev.medgemmafhir.engine.model;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Sets the {@code accuracy_level} attribute of every {@code com.microsoft.MatMulNBits} node in a
 * serialized ONNX model. On CPU that attribute picks the kernel: 0/1 dequantizes the 4-bit weights
 * to fp32 and multiplies in fp32; 4 quantizes the activations to int8 per block and uses the int8
 * dot-product instructions (AVX-512 VNNI, AVX-VNNI, ARM dot product), much faster for both prefill
 * and decode at a small numerical cost. ONNX Runtime has no session option that overrides it for
 * nodes already in the graph, and exports usually leave it unset, so the engine rewrites the graph.
 *
 * <p>Works on the protobuf wire format directly (ModelProto.graph = 7, GraphProto.node = 1,
 * NodeProto.op_type = 4, .attribute = 5, .domain = 7; AttributeProto.name = 1, .i = 3,
 * .type = 20 with INT = 2), copying every other byte unchanged, so the module needs no protobuf
 * library. Subgraphs (If/Loop bodies) are left alone: the exports have no MatMulNBits in them.
 */
public final class MatMulNBitsAccuracy {

    private MatMulNBitsAccuracy() {
    }

    /** The model with every MatMulNBits at {@code level}; empty when it has none or all are at that level already. */
    public static Optional<byte[]> withAccuracyLevel(byte[] model, int level) {
        int[] changed = {0};
        byte[] out = rewriteModel(model, level, changed);
        return changed[0] > 0 ? Optional.of(out) : Optional.empty();
    }

    private static byte[] rewriteModel(byte[] model, int level, int[] changed) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(model.length + 1024);
        Reader r = new Reader(model, 0, model.length);
        while (r.more()) {
            int start = r.pos;
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if (field == 7 && wire == 2) {
                int len = (int) r.varint();
                byte[] graph = rewriteGraph(model, r.pos, r.pos + len, level, changed);
                r.pos += len;
                writeLengthDelimited(out, 7, graph);
            } else {
                r.skip(wire);
                out.write(model, start, r.pos - start);
            }
        }
        return out.toByteArray();
    }

    private static byte[] rewriteGraph(byte[] b, int from, int to, int level, int[] changed) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(to - from + 1024);
        Reader r = new Reader(b, from, to);
        while (r.more()) {
            int start = r.pos;
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if (field == 1 && wire == 2) {
                int len = (int) r.varint();
                int nodeStart = r.pos;
                r.pos += len;
                if (isMatMulNBits(b, nodeStart, nodeStart + len)) {
                    byte[] node = rewriteNode(b, nodeStart, nodeStart + len, level, changed);
                    writeLengthDelimited(out, 1, node);
                    continue;
                }
                out.write(b, start, r.pos - start);
            } else {
                r.skip(wire);
                out.write(b, start, r.pos - start);
            }
        }
        return out.toByteArray();
    }

    private static boolean isMatMulNBits(byte[] b, int from, int to) {
        String opType = null;
        String domain = "";
        Reader r = new Reader(b, from, to);
        while (r.more()) {
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if ((field == 4 || field == 7) && wire == 2) {
                int len = (int) r.varint();
                String s = new String(b, r.pos, len, StandardCharsets.UTF_8);
                r.pos += len;
                if (field == 4) {
                    opType = s;
                } else {
                    domain = s;
                }
            } else {
                r.skip(wire);
            }
        }
        return "MatMulNBits".equals(opType) && "com.microsoft".equals(domain);
    }

    /** The node without its accuracy_level attribute, then one with {@code level}. */
    private static byte[] rewriteNode(byte[] b, int from, int to, int level, int[] changed) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(to - from + 32);
        Reader r = new Reader(b, from, to);
        long previous = Long.MIN_VALUE;
        while (r.more()) {
            int start = r.pos;
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if (field == 5 && wire == 2) {
                int len = (int) r.varint();
                int attrStart = r.pos;
                r.pos += len;
                long value = accuracyLevelOf(b, attrStart, attrStart + len);
                if (value != Long.MIN_VALUE + 1) {
                    previous = value;
                    continue;
                }
                out.write(b, start, r.pos - start);
            } else {
                r.skip(wire);
                out.write(b, start, r.pos - start);
            }
        }
        if (previous != level) {
            changed[0]++;
        }
        ByteArrayOutputStream attr = new ByteArrayOutputStream(32);
        writeLengthDelimited(attr, 1, "accuracy_level".getBytes(StandardCharsets.UTF_8));
        writeVarint(attr, 3 << 3);
        writeVarint(attr, level);
        writeVarint(attr, 20 << 3);
        writeVarint(attr, 2);
        writeLengthDelimited(out, 5, attr.toByteArray());
        return out.toByteArray();
    }

    /** The attribute's int value when it is named accuracy_level (0 when unset), else MIN_VALUE + 1. */
    private static long accuracyLevelOf(byte[] b, int from, int to) {
        boolean named = false;
        long value = 0;
        Reader r = new Reader(b, from, to);
        while (r.more()) {
            long key = r.varint();
            int field = (int) (key >>> 3);
            int wire = (int) (key & 7);
            if (field == 1 && wire == 2) {
                int len = (int) r.varint();
                named = "accuracy_level".equals(new String(b, r.pos, len, StandardCharsets.UTF_8));
                r.pos += len;
            } else if (field == 3 && wire == 0) {
                value = r.varint();
            } else {
                r.skip(wire);
            }
        }
        return named ? value : Long.MIN_VALUE + 1;
    }

    private static void writeLengthDelimited(ByteArrayOutputStream out, int field, byte[] bytes) {
        writeVarint(out, ((long) field << 3) | 2);
        writeVarint(out, bytes.length);
        out.write(bytes, 0, bytes.length);
    }

    private static void writeVarint(ByteArrayOutputStream out, long v) {
        while ((v & ~0x7FL) != 0) {
            out.write((int) ((v & 0x7F) | 0x80));
            v >>>= 7;
        }
        out.write((int) v);
    }

    /** A cursor over one message's bytes. */
    private static final class Reader {
        private final byte[] b;
        private final int end;
        int pos;

        Reader(byte[] b, int from, int to) {
            this.b = b;
            this.pos = from;
            this.end = to;
        }

        boolean more() {
            return pos < end;
        }

        long varint() {
            long v = 0;
            for (int shift = 0; shift < 64; shift += 7) {
                if (pos >= end) {
                    throw new IllegalArgumentException("truncated varint in ONNX model");
                }
                byte x = b[pos++];
                v |= (long) (x & 0x7F) << shift;
                if (x >= 0) {
                    return v;
                }
            }
            throw new IllegalArgumentException("malformed varint in ONNX model");
        }

        void skip(int wire) {
            switch (wire) {
                case 0 -> varint();
                case 1 -> pos += 8;
                case 2 -> {
                    long len = varint();
                    pos = Math.addExact(pos, Math.toIntExact(len));
                }
                case 5 -> pos += 4;
                default -> throw new IllegalArgumentException("unsupported protobuf wire type " + wire + " in ONNX model");
            }
            if (pos > end) {
                throw new IllegalArgumentException("truncated field in ONNX model");
            }
        }
    }
}
