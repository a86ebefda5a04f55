package dev.medgemmafhir.engine.image;

/**
 * Resizes one channel the way Pillow's {@code Image.resize} does (the library Hugging Face image
 * processors call): a separable convolution, horizontal pass then vertical, pixel centres at +0.5,
 * the filter widened by the scale when shrinking (so downscaling averages instead of skipping
 * pixels), weights renormalised at the borders. For 8-bit input it reproduces Pillow's fixed-point
 * arithmetic, including the rounding to 8 bits after each pass; other input is resampled in double
 * precision without rounding.
 */
public final class Resampler {

    private static final int PRECISION_BITS = 32 - 8 - 2;

    /** Pillow's resampling filters, by their {@code resample} number in preprocessor_config.json. */
    public enum Filter {
        BOX(0.5), BILINEAR(1.0), HAMMING(1.0), BICUBIC(2.0), LANCZOS(3.0);

        final double support;

        Filter(double support) {
            this.support = support;
        }

        /** PIL numbering: 1 = LANCZOS, 2 = BILINEAR, 3 = BICUBIC, 4 = BOX, 5 = HAMMING (0 = NEAREST is not supported). */
        public static Filter ofPil(int resample) {
            return switch (resample) {
                case 1 -> LANCZOS;
                case 2 -> BILINEAR;
                case 3 -> BICUBIC;
                case 4 -> BOX;
                case 5 -> HAMMING;
                default -> throw new IllegalArgumentException("'resample' " + resample + " is not a supported filter (1-5)");
            };
        }

        double weight(double x) {
            switch (this) {
                case BOX:
                    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
                case BILINEAR:
                    x = Math.abs(x);
                    return x < 1.0 ? 1.0 - x : 0.0;
                case HAMMING:
                    x = Math.abs(x);
                    if (x == 0.0) {
                        return 1.0;
                    }
                    if (x >= 1.0) {
                        return 0.0;
                    }
                    x *= Math.PI;
                    return Math.sin(x) / x * (0.54 + 0.46 * Math.cos(x));
                case BICUBIC: {
                    final double a = -0.5;
                    x = Math.abs(x);
                    if (x < 1.0) {
                        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                    }
                    if (x < 2.0) {
                        return (((x - 5) * x + 8) * x - 4) * a;
                    }
                    return 0.0;
                }
                case LANCZOS:
                    if (x > -3.0 && x < 3.0) {
                        return sinc(x) * sinc(x / 3.0);
                    }
                    return 0.0;
                default:
                    throw new IllegalStateException();
            }
        }

        private static double sinc(double x) {
            if (x == 0.0) {
                return 1.0;
            }
            x *= Math.PI;
            return Math.sin(x) / x;
        }
    }

    /** Which input samples each output sample reads, and with what weights. */
    static final class Coefficients {
        final int[] start;
        final int[] count;
        final double[] weights;
        final int[] fixed;
        final int ksize;

        Coefficients(int inSize, int outSize, Filter filter) {
            double scale = (double) inSize / outSize;
            double filterScale = Math.max(scale, 1.0);
            double support = filter.support * filterScale;
            ksize = (int) Math.ceil(support) * 2 + 1;
            start = new int[outSize];
            count = new int[outSize];
            weights = new double[outSize * ksize];
            fixed = new int[outSize * ksize];
            for (int xx = 0; xx < outSize; xx++) {
                double center = (xx + 0.5) * scale;
                double ss = 1.0 / filterScale;
                int xmin = Math.max((int) (center - support + 0.5), 0);
                int xmax = Math.min((int) (center + support + 0.5), inSize) - xmin;
                double ww = 0.0;
                for (int x = 0; x < xmax; x++) {
                    double w = filter.weight((x + xmin - center + 0.5) * ss);
                    weights[xx * ksize + x] = w;
                    ww += w;
                }
                for (int x = 0; x < xmax; x++) {
                    int i = xx * ksize + x;
                    if (ww != 0.0) {
                        weights[i] /= ww;
                    }
                    double k = weights[i] * (1 << PRECISION_BITS);
                    fixed[i] = (int) (k < 0 ? -0.5 + k : 0.5 + k);
                }
                start[xx] = xmin;
                count[xx] = xmax;
            }
        }
    }

    private Resampler() {
    }

    /** One channel of an image, read a row at a time so the whole decoded image is never copied. */
    public interface Rows {
        int width();

        int height();

        /** Fills {@code dest[0, width)} with row {@code y}'s samples. */
        void row(int y, int[] dest);

        /** A channel held in a row-major array. */
        static Rows of(int[] samples, int width, int height) {
            return new Rows() {
                public int width() {
                    return width;
                }

                public int height() {
                    return height;
                }

                public void row(int y, int[] dest) {
                    System.arraycopy(samples, y * width, dest, 0, width);
                }
            };
        }
    }

    /** Resizes an 8-bit channel (samples 0..255) exactly as Pillow does for mode L / RGB images. */
    public static int[] resize8(Rows src, int outW, int outH, Filter filter) {
        int inW = src.width();
        int inH = src.height();
        int[] rowBuf = new int[inW];
        int w = outW;
        int[] cur = new int[outW * inH];
        Coefficients cx = outW != inW ? new Coefficients(inW, outW, filter) : null;
        for (int y = 0; y < inH; y++) {
            src.row(y, rowBuf);
            if (cx == null) {
                System.arraycopy(rowBuf, 0, cur, y * outW, outW);
                continue;
            }
            for (int xx = 0; xx < outW; xx++) {
                int ss = 1 << (PRECISION_BITS - 1);
                int base = xx * cx.ksize;
                int s0 = cx.start[xx];
                for (int x = 0; x < cx.count[xx]; x++) {
                    ss += rowBuf[s0 + x] * cx.fixed[base + x];
                }
                cur[y * outW + xx] = clip8(ss);
            }
        }
        if (outH == inH) {
            return cur;
        }
        Coefficients c = new Coefficients(inH, outH, filter);
        int[] next = new int[w * outH];
        for (int yy = 0; yy < outH; yy++) {
            int base = yy * c.ksize;
            for (int x = 0; x < w; x++) {
                int ss = 1 << (PRECISION_BITS - 1);
                for (int y = 0; y < c.count[yy]; y++) {
                    ss += cur[(c.start[yy] + y) * w + x] * c.fixed[base + y];
                }
                next[yy * w + x] = clip8(ss);
            }
        }
        return next;
    }

    /**
     * Resizes a channel in double precision, each sample multiplied by {@code scale} first
     * (16-bit images: 255/65535, so results are on the 0..255 scale without 8-bit rounding).
     */
    public static double[] resize(Rows src, double scale, int outW, int outH, Filter filter) {
        int inW = src.width();
        int inH = src.height();
        int[] rowBuf = new int[inW];
        int w = outW;
        double[] cur = new double[outW * inH];
        Coefficients cx = outW != inW ? new Coefficients(inW, outW, filter) : null;
        for (int y = 0; y < inH; y++) {
            src.row(y, rowBuf);
            for (int xx = 0; xx < outW; xx++) {
                if (cx == null) {
                    cur[y * outW + xx] = rowBuf[xx] * scale;
                    continue;
                }
                double ss = 0;
                int base = xx * cx.ksize;
                int s0 = cx.start[xx];
                for (int x = 0; x < cx.count[xx]; x++) {
                    ss += rowBuf[s0 + x] * scale * cx.weights[base + x];
                }
                cur[y * outW + xx] = ss;
            }
        }
        if (outH == inH) {
            return cur;
        }
        Coefficients c = new Coefficients(inH, outH, filter);
        double[] next = new double[w * outH];
        for (int yy = 0; yy < outH; yy++) {
            int base = yy * c.ksize;
            for (int x = 0; x < w; x++) {
                double ss = 0;
                for (int y = 0; y < c.count[yy]; y++) {
                    ss += cur[(c.start[yy] + y) * w + x] * c.weights[base + y];
                }
                next[yy * w + x] = ss;
            }
        }
        return next;
    }

    private static int clip8(int ss) {
        int v = ss >> PRECISION_BITS;
        return v < 0 ? 0 : Math.min(v, 255);
    }
}
