package dev.medgemmafhir.engine.forge;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A small initializer given by its bytes: shape constants, axes, scalars, quantization scales. */
record ConstantTensor(int dataType, long[] dims, byte[] bytes) implements TensorData {

    static ConstantTensor int64(long[] dims, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return new ConstantTensor(INT64, dims, b.array());
    }

    static ConstantTensor floats(long[] dims, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return new ConstantTensor(FLOAT, dims, b.array());
    }

    static ConstantTensor uint8(long[] dims, byte[] values) {
        return new ConstantTensor(UINT8, dims, values);
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    @Override
    public long byteLength() {
        return bytes.length;
    }

    @Override
    public void writeTo(ByteSink sink) throws java.io.IOException {
        sink.put(ByteBuffer.wrap(bytes));
    }
}
