package dev.medgemmafhir.engine.image;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.awt.image.WritableRaster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Pixel values computed by hand from Pillow's resampling rules and Gemma 3's rescale / normalise. */
class ImagePreprocessorTest {

    private static ImageSpec spec(int h, int w) {
        return new ImageSpec(h, w, true, Resampler.Filter.BILINEAR, true, 1 / 255.0, true, new double[] {0.5, 0.5, 0.5},
                new double[] {0.5, 0.5, 0.5});
    }

    @Test
    void upscalingInterpolatesBetweenPixelCentres() {
        // centres at +0.5: output x=1 sits at input 0.75 -> 0.75*0 + 0.25*255 = 63.75 -> 64
        int[] out = Resampler.resize8(Resampler.Rows.of(new int[] {0, 255}, 2, 1), 4, 1, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {0, 64, 191, 255}, out);
    }

    @Test
    void downscalingAveragesOverTheWidenedFilterLikePillow() {
        // Filter support doubles when halving: weights 3/7, 3/7, 1/7 -> 71.4 and 207.1 (naive bilinear would give 50 and 225).
        int[] out = Resampler.resize8(Resampler.Rows.of(new int[] {0, 100, 200, 250}, 4, 1), 2, 1, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {71, 207}, out);
        int[] vertical = Resampler.resize8(Resampler.Rows.of(new int[] {0, 100, 200, 250}, 1, 4), 1, 2, Resampler.Filter.BILINEAR);
        assertArrayEquals(new int[] {71, 207}, vertical);
    }

    @Test
    void sameSizeImageIsOnlyRescaledAndNormalisedChannelsFirst() throws IOException {
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB);
        img.setRGB(0, 0, 0xFF0080); // r=255 g=0 b=128
        img.setRGB(1, 0, 0x00FF00);
        img.setRGB(0, 1, 0x000000);
        img.setRGB(1, 1, 0xFFFFFF);
        float[] px = new ImagePreprocessor(spec(2, 2), ImageLimits.defaults()).pixelValues(png(img));
        float b = (float) ((float) (128 / 255.0) - 0.5) / 0.5f;
        assertArrayEquals(new float[] {1f, -1f, -1f, 1f, -1f, 1f, -1f, 1f, b, -1f, -1f, 1f}, px, 1e-7f);
    }

    @Test
    void grayscaleIsRepeatedOverThreeChannelsWithoutColourConversion() throws IOException {
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
        img.getRaster().setSample(0, 0, 0, 51);
        float[] px = new ImagePreprocessor(spec(2, 2), ImageLimits.defaults()).pixelValues(png(img));
        float expected = (float) ((float) (51 / 255.0) - 0.5) / 0.5f;
        for (int c = 0; c < 3; c++) {
            assertEquals(expected, px[c * 4], 1e-7f);
            assertEquals(-1f, px[c * 4 + 1], 1e-7f);
        }
    }

    @Test
    void sixteenBitGrayKeepsItsRangeAndPrecision() throws IOException {
        BufferedImage img = new BufferedImage(2, 2, BufferedImage.TYPE_USHORT_GRAY);
        WritableRaster r = img.getRaster();
        r.setSample(0, 0, 0, 65535);
        r.setSample(1, 0, 0, 32768);
        r.setSample(0, 1, 0, 0);
        r.setSample(1, 1, 0, 257);
        float[] px = new ImagePreprocessor(spec(2, 2), ImageLimits.defaults()).pixelValues(png(img));
        assertEquals(1f, px[0], 1e-6f);
        assertEquals((32768 / 65535.0 - 0.5) / 0.5, px[1], 1e-6);
        assertEquals(-1f, px[2], 1e-6f);
        assertEquals((1 / 255.0 - 0.5) / 0.5, px[3], 1e-6);
        assertEquals(px[1], px[4 + 1]);
    }

    @Test
    void jpegColourImagesDecodeAndResize() throws IOException {
        BufferedImage img = new BufferedImage(40, 30, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 30; y++) {
            for (int x = 0; x < 40; x++) {
                img.setRGB(x, y, 0x808080);
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "jpeg", out);
        float[] px = new ImagePreprocessor(spec(8, 8), ImageLimits.defaults()).pixelValues(out.toByteArray());
        assertEquals(3 * 64, px.length);
        for (float v : px) {
            assertEquals((128 / 255.0 - 0.5) / 0.5, v, 0.02);
        }
    }

    static byte[] png(BufferedImage img) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img, "png", out);
        return out.toByteArray();
    }
}
