package dev.medgemmafhir.engine.image;

import dev.medgemmafhir.engine.InvalidInputException;

/**
 * Turns an encoded image into the vision encoder's {@code pixel_values}: RGB, resized straight to
 * the configured size (aspect ratio not kept, as Gemma 3's processor does), rescaled, normalised,
 * channels first, float32. 8-bit images follow Pillow's 8-bit resize exactly; 16-bit images are
 * mapped linearly to the same 0..255 scale (65535 -> 255) and resized without rounding, keeping
 * their extra precision. The float arithmetic matches transformers.js:
 * {@code (float)(float)(v * rescale) - mean) / std}.
 */
public final class ImagePreprocessor {

    private final ImageSpec spec;
    private final ImageLimits limits;

    public ImagePreprocessor(ImageSpec spec, ImageLimits limits) {
        this.spec = spec;
        this.limits = limits;
    }

    public ImageSpec spec() {
        return spec;
    }

    /** Decodes and preprocesses; the result has 3 x height x width values. */
    public float[] pixelValues(byte[] encoded) {
        return pixelValues(ImageDecoder.decode(encoded, limits));
    }

    public float[] pixelValues(DecodedImage image) {
        int outW = spec.width();
        int outH = spec.height();
        if (!spec.resize() && (image.width() != outW || image.height() != outH)) {
            throw new InvalidInputException("image is " + image.width() + "x" + image.height() + " but the model takes "
                    + outW + "x" + outH + " and its preprocessor does not resize");
        }
        int plane = outW * outH;
        float[] out = new float[3 * plane];
        Resampler.Rows previous = null;
        double[] resized = null;
        for (int c = 0; c < 3; c++) {
            // Grayscale images repeat one channel: resize it once.
            if (image.channel(c) != previous) {
                previous = image.channel(c);
                resized = resize(image, c, outW, outH);
            }
            for (int i = 0; i < plane; i++) {
                out[c * plane + i] = normalize(resized[i], c);
            }
        }
        return out;
    }

    private double[] resize(DecodedImage image, int c, int outW, int outH) {
        if (image.bits() == 8) {
            int[] v = Resampler.resize8(image.channel(c), outW, outH, spec.filter());
            double[] d = new double[v.length];
            for (int i = 0; i < v.length; i++) {
                d[i] = v[i];
            }
            return d;
        }
        return Resampler.resize(image.channel(c), 255.0 / ((1 << image.bits()) - 1), outW, outH, spec.filter());
    }

    private float normalize(double v, int c) {
        float x = spec.rescale() ? (float) (v * spec.rescaleFactor()) : (float) v;
        return spec.normalize() ? (float) ((x - spec.mean()[c]) / spec.std()[c]) : x;
    }
}
