package dev.medgemmafhir.engine.convert;

/** Rounding of fp32 values to the narrower float types checkpoints are stored in. */
final class Dtypes {

    private Dtypes() {
    }

    /** {@code value} rounded (to nearest, ties to even) to {@code dtype}, as torch's {@code .to(dtype)} does. */
    static float roundTo(float value, SafetensorsFile.DType dtype) {
        return switch (dtype) {
            case F32 -> value;
            case BF16 -> keepMantissaBits(value, 7);
            case F16 -> keepMantissaBits(value, 10);
        };
    }

    /** Normal numbers only (the embedding scale is one): drops the low 23 - bits mantissa bits with rounding. */
    private static float keepMantissaBits(float value, int bits) {
        int drop = 23 - bits;
        int x = Float.floatToRawIntBits(value);
        int half = 1 << (drop - 1);
        int lsb = (x >>> drop) & 1;
        x += half - 1 + lsb;
        return Float.intBitsToFloat(x & ~((1 << drop) - 1));
    }
}
