package dev.medgemmafhir.engine.convert;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** A small initializer given by its bytes: shape constants, axes, scalars, quantization scales. */
public record ConstantTensor(int dataType, long[] dims, byte[] bytes) implements TensorData {

    public static ConstantTensor int64(long[] dims, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return new ConstantTensor(INT64, dims, b.array());
    }

    public static ConstantTensor floats(long[] dims, float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return new ConstantTensor(FLOAT, dims, b.array());
    }

    public static ConstantTensor uint8(long[] dims, byte[] values) {
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
