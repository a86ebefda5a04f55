package dev.medgemmafhir.engine.convert;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The bytes of one initializer, produced in order into a sink rather than held in one array:
 * a real-size embedding table (262208 x 2560 floats) exceeds what a Java array can hold.
 */
public interface TensorData {

    /** ONNX {@code TensorProto.DataType} code of the elements. */
    int dataType();

    long[] dims();

    long byteLength();

    /** Writes exactly {@link #byteLength()} little-endian bytes. */
    void writeTo(ByteSink sink) throws IOException;

    interface ByteSink {
        /** Consumes the buffer's remaining bytes. */
        void put(ByteBuffer bytes) throws IOException;
    }

    int FLOAT = 1;
    int UINT8 = 2;
    int INT64 = 7;
    int BOOL = 9;
}
