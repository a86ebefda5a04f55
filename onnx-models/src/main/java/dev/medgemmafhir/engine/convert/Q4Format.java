package dev.medgemmafhir.engine.convert;

import java.util.List;

/**
 * How {@code --dtype q4} stores a linear weight as {@code com.microsoft.MatMulNBits} 4-bit blocks.
 *
 * @param blockSize weights per block along K, each block with one fp32 scale: 16, 32, 64, 128 or 256
 * @param symmetric no {@code zero_points} input: MatMulNBits then subtracts its default zero point 8 and the block's
 *                  largest-magnitude weight sets the scale ({@code scale = w / -8}, as ONNX Runtime's own symmetric
 *                  quantizer and llama.cpp's Q4_0 pick it); otherwise each block also stores a 4-bit zero point and
 *                  spans its own min..max
 */
public record Q4Format(int blockSize, boolean symmetric) {

    /** The block sizes MatMulNBits' CPU kernels take (a power of two, at least 16). */
    public static final List<Integer> BLOCK_SIZES = List.of(16, 32, 64, 128, 256);
    /** Blocks of 32 with zero points, as ONNX Runtime's own 4-bit quantizer writes by default. */
    public static final Q4Format DEFAULT = new Q4Format(32, false);

    public Q4Format {
        if (!BLOCK_SIZES.contains(blockSize)) {
            throw new ConversionException("--q4-block-size " + blockSize + " is not supported; use one of " + BLOCK_SIZES);
        }
    }

    /** E.g. {@code blocks of 64, symmetric, 4.50 bits/weight}. */
    public String describe() {
        return String.format(java.util.Locale.ROOT, "blocks of %d, %s, %.2f bits/weight", blockSize,
                symmetric ? "symmetric" : "zero points", bitsPerWeight());
    }

    /** Bits each weight costs on disk and in memory: 4, plus the block's fp32 scale and (asymmetric) 4-bit zero point. */
    public double bitsPerWeight() {
        return Int4BlockQuantizer.BITS + (32.0 + (symmetric ? 0 : Int4BlockQuantizer.BITS)) / blockSize;
    }
}
