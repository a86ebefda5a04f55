package dev.medgemmafhir.engine.image;

/**
 * Dimensions an input image may have, checked from the file header before any pixel is decoded,
 * so a file claiming 20000 x 20000 pixels is refused without allocating them.
 *
 * @param minSide smallest width or height accepted
 * @param maxSide largest width or height accepted
 * @param maxPixels largest width x height accepted
 * @param maxBytes largest encoded file accepted
 */
public record ImageLimits(int minSide, int maxSide, long maxPixels, long maxBytes) {

    /** 2..16384 pixels a side, at most 36 megapixels (a 6000 x 6000 radiograph), files up to 256 MiB. */
    public static ImageLimits defaults() {
        return new ImageLimits(2, 16384, 36_000_000L, 256L << 20);
    }
}
