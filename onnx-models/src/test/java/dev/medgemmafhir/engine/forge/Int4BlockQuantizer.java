package dev.medgemmafhir.engine.forge;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Quantizes a fp32 weight {@code W [K, N]} (the right operand of {@code MatMul(x, W)}) into the
 * inputs of ONNX Runtime's contrib op {@code com.microsoft.MatMulNBits} with bits=4:
 * <ul>
 *   <li>{@code B} uint8 {@code [N, n_blocks_per_col, blob_size]}: column n of W in blocks of
 *       {@code block_size} along K, two 4-bit codes per byte, the lower K index in the low nibble;</li>
 *   <li>{@code scales} float {@code [N * n_blocks_per_col]};</li>
 *   <li>{@code zero_points} uint8 {@code [N * ceil(n_blocks_per_col / 2)]}, packed like B.</li>
 * </ul>
 * Dequantized value = (code - zero_point) * scale. Asymmetric blocks, like ONNX Runtime's own
 * 4-bit quantizer by default; a K that is not a multiple of the block is zero-padded.
 */
final class Int4BlockQuantizer {

    static final int BITS = 4;

    final int k;
    final int n;
    final int blockSize;
    final int blocksPerColumn;
    final int blobSize;
    final int zeroPointBytesPerColumn;

    private final SeededFloats weight;
    private float[] scales;
    private byte[] zeroPoints;

    Int4BlockQuantizer(SeededFloats weight, int blockSize) {
        long[] dims = weight.dims();
        if (dims.length != 2) {
            throw new IllegalArgumentException("MatMulNBits quantizes a 2-D weight, got rank " + dims.length);
        }
        this.weight = weight;
        this.k = Math.toIntExact(dims[0]);
        this.n = Math.toIntExact(dims[1]);
        this.blockSize = blockSize;
        this.blocksPerColumn = (k + blockSize - 1) / blockSize;
        this.blobSize = blockSize * BITS / 8;
        this.zeroPointBytesPerColumn = (blocksPerColumn * BITS + 7) / 8;
    }

    /** {@code B}: writing it also computes the scales and zero points in the same pass. */
    TensorData packedWeights() {
        Int4BlockQuantizer self = this;
        return new TensorData() {
            @Override
            public int dataType() {
                return UINT8;
            }

            @Override
            public long[] dims() {
                return new long[] {n, blocksPerColumn, blobSize};
            }

            @Override
            public long byteLength() {
                return (long) n * blocksPerColumn * blobSize;
            }

            @Override
            public void writeTo(ByteSink sink) throws IOException {
                self.quantize(sink);
            }
        };
    }

    TensorData scales() {
        ensureQuantized();
        return ConstantTensor.floats(new long[] {(long) n * blocksPerColumn}, scales);
    }

    TensorData zeroPoints() {
        ensureQuantized();
        return ConstantTensor.uint8(new long[] {(long) n * zeroPointBytesPerColumn}, zeroPoints);
    }

    private void ensureQuantized() {
        if (scales == null) {
            try {
                quantize(null);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private void quantize(TensorData.ByteSink sink) throws IOException {
        float[] newScales = new float[n * blocksPerColumn];
        byte[] newZeroPoints = new byte[n * zeroPointBytesPerColumn];
        float[] block = new float[blockSize];
        ByteBuffer column = ByteBuffer.allocate(blocksPerColumn * blobSize).order(ByteOrder.LITTLE_ENDIAN);
        for (int col = 0; col < n; col++) {
            column.clear();
            for (int b = 0; b < blocksPerColumn; b++) {
                for (int i = 0; i < blockSize; i++) {
                    int row = b * blockSize + i;
                    block[i] = row < k ? weight.at((long) row * n + col) : 0f;
                }
                float min = 0f;
                float max = 0f;
                for (float v : block) {
                    min = Math.min(min, v);
                    max = Math.max(max, v);
                }
                float scale = (max - min) / 15f;
                if (scale == 0f) {
                    scale = 1f;
                }
                int zeroPoint = clamp(Math.round(-min / scale));
                newScales[col * blocksPerColumn + b] = scale;
                newZeroPoints[col * zeroPointBytesPerColumn + b / 2] |= (byte) (zeroPoint << (4 * (b % 2)));
                for (int i = 0; i < blockSize; i += 2) {
                    int low = clamp(Math.round(block[i] / scale) + zeroPoint);
                    int high = clamp(Math.round(block[i + 1] / scale) + zeroPoint);
                    column.put((byte) (low | (high << 4)));
                }
            }
            if (sink != null) {
                column.flip();
                sink.put(column);
            }
        }
        scales = newScales;
        zeroPoints = newZeroPoints;
    }

    private static int clamp(int code) {
        return Math.max(0, Math.min(15, code));
    }
}
