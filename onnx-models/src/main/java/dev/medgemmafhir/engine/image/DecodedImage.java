package dev.medgemmafhir.engine.image;

/**
 * A decoded image as three colour channels (grayscale repeated), read row by row from the decoder's
 * raster without copying it.
 *
 * @param width pixels
 * @param height pixels
 * @param bits 8 or 16 bits per sample
 * @param red red channel (the gray channel for grayscale images)
 * @param green green channel
 * @param blue blue channel
 */
public record DecodedImage(int width, int height, int bits, Resampler.Rows red, Resampler.Rows green, Resampler.Rows blue) {

    public Resampler.Rows channel(int c) {
        return switch (c) {
            case 0 -> red;
            case 1 -> green;
            case 2 -> blue;
            default -> throw new IndexOutOfBoundsException(c);
        };
    }
}
