package dev.medgemmafhir.engine.convert;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Quantizes a weight {@code W [K, N]} (the right operand of {@code MatMul(x, W)}) into the
 * inputs of ONNX Runtime's contrib op {@code com.microsoft.MatMulNBits} with bits=4:
 * <ul>
 *   <li>{@code B} uint8 {@code [N, n_blocks_per_col, blob_size]}: column n of W in blocks of
 *       {@code block_size} along K, two 4-bit codes per byte, the lower K index in the low nibble;</li>
 *   <li>{@code scales} float {@code [N * n_blocks_per_col]};</li>
 *   <li>{@code zero_points} uint8 {@code [N * ceil(n_blocks_per_col / 2)]}, packed like B; asymmetric
 *       blocks only.</li>
 * </ul>
 * Dequantized value = (code - zero_point) * scale. Asymmetric blocks (ONNX Runtime's own 4-bit
 * quantizer's default) span their min..max with a zero point each. Symmetric blocks have no
 * zero_points input, so MatMulNBits subtracts its default 8 ({@code 2^(bits-1)}); the scale is the
 * block's largest-magnitude weight over -8, as ONNX Runtime's symmetric quantizer (MLAS
 * {@code range2scale}) and llama.cpp's Q4_0 pick it: that weight is code 0 exactly, and the codes
 * reach 7 steps the other way (4-bit codes hold -8..7 around the zero point). A K that is not a
 * multiple of the block is zero-padded.
 *
 * <p>Columns are read one at a time, so a weight of any size streams: a Hugging Face linear
 * weight {@code [out, in]} hands over row n as column n of W without a transpose.
 */
public final class Int4BlockQuantizer {

    public static final int BITS = 4;
    /** The zero point MatMulNBits assumes when a node has no zero_points input: {@code 2^(bits-1)}. */
    public static final int SYMMETRIC_ZERO_POINT = 1 << (BITS - 1);

    /** Fills {@code column} (length K) with column {@code n} of W. */
    @FunctionalInterface
    public interface Columns {
        void read(int n, float[] column) throws IOException;
    }

    public final int k;
    public final int n;
    public final int blockSize;
    public final boolean symmetric;
    public final int blocksPerColumn;
    public final int blobSize;
    public final int zeroPointBytesPerColumn;

    private final Columns columns;
    private float[] scales;
    private byte[] zeroPoints;

    public Int4BlockQuantizer(int k, int n, Q4Format format, Columns columns) {
        this(k, n, format.blockSize(), format.symmetric(), columns);
    }

    public Int4BlockQuantizer(int k, int n, int blockSize, boolean symmetric, Columns columns) {
        if (k <= 0 || n <= 0 || blockSize <= 0 || blockSize % 2 != 0) {
            throw new IllegalArgumentException("bad MatMulNBits shape K=" + k + " N=" + n + " block=" + blockSize);
        }
        this.columns = columns;
        this.k = k;
        this.n = n;
        this.blockSize = blockSize;
        this.symmetric = symmetric;
        this.blocksPerColumn = (k + blockSize - 1) / blockSize;
        this.blobSize = blockSize * BITS / 8;
        this.zeroPointBytesPerColumn = (blocksPerColumn * BITS + 7) / 8;
    }

    /** {@code B}: writing it also computes the scales and zero points in the same pass. */
    public TensorData packedWeights() {
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

    public TensorData scales() {
        ensureQuantized();
        return ConstantTensor.floats(new long[] {(long) n * blocksPerColumn}, scales);
    }

    /** The packed zero points of asymmetric blocks (symmetric blocks have none: MatMulNBits' default 8 applies). */
    public TensorData zeroPoints() {
        if (symmetric) {
            throw new IllegalStateException("symmetric blocks have no zero_points input");
        }
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
        float[] values = new float[k];
        float[] block = new float[blockSize];
        ByteBuffer column = ByteBuffer.allocate(blocksPerColumn * blobSize).order(ByteOrder.LITTLE_ENDIAN);
        for (int col = 0; col < n; col++) {
            columns.read(col, values);
            column.clear();
            for (int b = 0; b < blocksPerColumn; b++) {
                for (int i = 0; i < blockSize; i++) {
                    int row = b * blockSize + i;
                    block[i] = row < k ? values[row] : 0f;
                }
                float scale;
                int zeroPoint;
                if (symmetric) {
                    float extreme = 0f;
                    for (float v : block) {
                        if (Math.abs(v) > Math.abs(extreme)) {
                            extreme = v;
                        }
                    }
                    scale = extreme / -SYMMETRIC_ZERO_POINT;
                    zeroPoint = SYMMETRIC_ZERO_POINT;
                } else {
                    float min = 0f;
                    float max = 0f;
                    for (float v : block) {
                        min = Math.min(min, v);
                        max = Math.max(max, v);
                    }
                    scale = (max - min) / 15f;
                    zeroPoint = scale == 0f ? 0 : clamp(Math.round(-min / scale));
                }
                if (scale == 0f) {
                    scale = 1f;
                }
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
