package dev.medgemmafhir.engine.image;

import dev.medgemmafhir.engine.InvalidInputException;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * Decodes PNG and JPEG files (8- and 16-bit, grayscale and colour) with the JDK's ImageIO. The
 * dimensions are read from the header and checked against {@link ImageLimits} before any pixel is
 * decoded; decoder warnings (a truncated JPEG still "decodes" with a grey tail) are errors.
 */
public final class ImageDecoder {

    private ImageDecoder() {
    }

    /**
     * Decodes {@code encoded}.
     *
     * @throws InvalidInputException not a PNG/JPEG, damaged or truncated, or dimensions outside {@code limits}
     */
    public static DecodedImage decode(byte[] encoded, ImageLimits limits) {
        if (encoded.length == 0) {
            throw new InvalidInputException("image is empty (0 bytes)");
        }
        if (encoded.length > limits.maxBytes()) {
            throw new InvalidInputException("image file has " + encoded.length + " bytes, more than the limit of " + limits.maxBytes());
        }
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(encoded))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new InvalidInputException("not a PNG or JPEG image (unrecognised file format)");
            }
            ImageReader reader = readers.next();
            try {
                String format = reader.getFormatName().toLowerCase(Locale.ROOT);
                if (!format.equals("png") && !format.equals("jpeg") && !format.equals("jpg")) {
                    throw new InvalidInputException("image format '" + format + "' is not supported; use PNG or JPEG");
                }
                reader.setInput(in, true, true);
                int width = reader.getWidth(0);
                int height = reader.getHeight(0);
                checkDimensions(width, height, limits);
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                BufferedImage image = reader.read(0);
                if (!warnings.isEmpty()) {
                    throw new InvalidInputException("image data is damaged or truncated (" + format + ": " + warnings.get(0) + ")");
                }
                return channels(image);
            } finally {
                reader.dispose();
            }
        } catch (InvalidInputException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            // ImageIO reports damaged data as IIOException, EOFException or, for some corruptions, runtime exceptions.
            throw new InvalidInputException("image cannot be decoded, the file is damaged or truncated (" + e.getClass().getSimpleName()
                    + ": " + e.getMessage() + ")", e);
        }
    }

    static void checkDimensions(int width, int height, ImageLimits limits) {
        if (width < limits.minSide() || height < limits.minSide()) {
            throw new InvalidInputException("image is " + width + "x" + height + " pixels; at least " + limits.minSide()
                    + " pixels a side are needed");
        }
        if (width > limits.maxSide() || height > limits.maxSide() || (long) width * height > limits.maxPixels()) {
            throw new InvalidInputException("image is " + width + "x" + height + " pixels, more than the limit of " + limits.maxSide()
                    + " pixels a side and " + limits.maxPixels() + " pixels in all");
        }
    }

    private static DecodedImage channels(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        ColorModel cm = image.getColorModel();
        Raster raster = image.getRaster();
        int type = cm.getColorSpace().getType();
        int bits = cm.getComponentSize(0);
        boolean component = cm instanceof ComponentColorModel && (bits == 8 || bits == 16);
        if (component && type == ColorSpace.TYPE_GRAY && cm.getNumColorComponents() == 1) {
            Resampler.Rows gray = band(raster, 0);
            return new DecodedImage(w, h, bits, gray, gray, gray);
        }
        if (component && type == ColorSpace.TYPE_RGB && cm.getNumColorComponents() == 3) {
            return new DecodedImage(w, h, bits, band(raster, 0), band(raster, 1), band(raster, 2));
        }
        if (!(cm instanceof ComponentColorModel) && type == ColorSpace.TYPE_RGB || cm instanceof java.awt.image.IndexColorModel) {
            // Packed and palette images: let the colour model produce 8-bit sRGB.
            return new DecodedImage(w, h, 8, argb(image, 16), argb(image, 8), argb(image, 0));
        }
        if (type == ColorSpace.TYPE_GRAY) {
            // 1/2/4-bit grayscale: the colour model scales samples to 0..255 as Pillow's convert("RGB") does.
            return new DecodedImage(w, h, 8, argb(image, 16), argb(image, 8), argb(image, 0));
        }
        throw new InvalidInputException("image colour model is not supported (colour space type " + type + ", "
                + cm.getNumColorComponents() + " components of " + bits + " bits); use grayscale or RGB");
    }

    private static Resampler.Rows band(Raster raster, int band) {
        int w = raster.getWidth();
        int h = raster.getHeight();
        return new Resampler.Rows() {
            public int width() {
                return w;
            }

            public int height() {
                return h;
            }

            public void row(int y, int[] dest) {
                raster.getSamples(0, y, w, 1, band, dest);
            }
        };
    }

    private static Resampler.Rows argb(BufferedImage image, int shift) {
        int w = image.getWidth();
        int h = image.getHeight();
        return new Resampler.Rows() {
            public int width() {
                return w;
            }

            public int height() {
                return h;
            }

            public void row(int y, int[] dest) {
                image.getRGB(0, y, w, 1, dest, 0, w);
                for (int x = 0; x < w; x++) {
                    dest[x] = (dest[x] >>> shift) & 0xFF;
                }
            }
        };
    }
}
