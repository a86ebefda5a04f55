package dev.medgemmafhir.engine.image;

import dev.medgemmafhir.engine.model.JsonFile;

import java.nio.file.Path;
import java.util.List;

/**
 * How the vision encoder wants its pixels, from {@code preprocessor_config.json}.
 *
 * @param height target height ({@code size.height})
 * @param width target width ({@code size.width})
 * @param resize {@code do_resize}
 * @param filter {@code resample} as a PIL filter
 * @param rescale {@code do_rescale}
 * @param rescaleFactor {@code rescale_factor}
 * @param normalize {@code do_normalize}
 * @param mean {@code image_mean} per channel
 * @param std {@code image_std} per channel
 */
public record ImageSpec(int height, int width, boolean resize, Resampler.Filter filter, boolean rescale, double rescaleFactor,
                        boolean normalize, double[] mean, double[] std) {

    /** Reads {@code dir/preprocessor_config.json}; fails naming the file. */
    public static ImageSpec read(Path dir) {
        JsonFile f = JsonFile.required(dir, "preprocessor_config.json");
        Integer h = f.integer("size.height");
        Integer w = f.integer("size.width");
        if (h == null || w == null || h < 1 || w < 1) {
            throw f.problem("needs 'size': {'height': H, 'width': W}");
        }
        Integer resample = f.integer("resample");
        Resampler.Filter filter;
        try {
            filter = Resampler.Filter.ofPil(resample == null ? 2 : resample);
        } catch (IllegalArgumentException e) {
            throw f.problem(e.getMessage());
        }
        Double factor = f.number("rescale_factor");
        double[] mean = channels(f, "image_mean", 0.0);
        double[] std = channels(f, "image_std", 1.0);
        for (double s : std) {
            if (s == 0) {
                throw f.problem("'image_std' must not be 0");
            }
        }
        return new ImageSpec(h, w, bool(f, "do_resize"), filter, bool(f, "do_rescale"), factor == null ? 1 / 255.0 : factor,
                bool(f, "do_normalize"), mean, std);
    }

    private static boolean bool(JsonFile f, String key) {
        return !f.at(key).isBoolean() || f.at(key).booleanValue();
    }

    private static double[] channels(JsonFile f, String key, double dflt) {
        List<Double> v = f.numbers(key);
        if (v.isEmpty()) {
            return new double[] {dflt, dflt, dflt};
        }
        if (v.size() == 1) {
            return new double[] {v.get(0), v.get(0), v.get(0)};
        }
        if (v.size() != 3) {
            throw f.problem("'" + key + "' should have 3 values, has " + v.size());
        }
        return new double[] {v.get(0), v.get(1), v.get(2)};
    }
}
