package dev.medgemmafhir.engine.image;

import dev.medgemmafhir.engine.InvalidInputException;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageDecoderTest {

    private static final ImageLimits LIMITS = ImageLimits.defaults();

    @Test
    void textIsNotAnImage() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> ImageDecoder.decode("hello, not an image".getBytes(StandardCharsets.UTF_8), LIMITS));
        assertTrue(e.getMessage().contains("not a PNG or JPEG"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> ImageDecoder.decode(new byte[0], LIMITS));
    }

    @Test
    void truncatedPngAndJpegAreRefused() throws IOException {
        byte[] png = encode(noise(64, 64), "png");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> ImageDecoder.decode(Arrays.copyOf(png, png.length / 2), LIMITS));
        assertTrue(e.getMessage().contains("damaged or truncated"), e.getMessage());
        byte[] jpeg = encode(noise(64, 64), "jpeg");
        e = assertThrows(InvalidInputException.class, () -> ImageDecoder.decode(Arrays.copyOf(jpeg, jpeg.length / 2), LIMITS));
        assertTrue(e.getMessage().contains("damaged or truncated"), e.getMessage());
    }

    @Test
    void oneByOnePixelIsTooSmall() throws IOException {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> ImageDecoder.decode(encode(noise(1, 1), "png"), LIMITS));
        assertTrue(e.getMessage().contains("1x1"), e.getMessage());
    }

    @Test
    void aHeaderClaiming20000x20000IsRefusedBeforeDecoding() throws IOException {
        // A valid PNG header and IHDR chunk claiming 20000 x 20000 RGB pixels (1.2 GB decoded), then nothing.
        byte[] bomb = pngHeader(20000, 20000);
        Runtime rt = Runtime.getRuntime();
        long before = rt.totalMemory() - rt.freeMemory();
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> ImageDecoder.decode(bomb, LIMITS));
        assertTrue(e.getMessage().contains("20000x20000"), e.getMessage());
        long after = rt.totalMemory() - rt.freeMemory();
        assertTrue(after - before < 200L << 20, "decoding allocated " + ((after - before) >> 20) + " MiB");
    }

    @Test
    void validImagesDecodeWithTheirDepth() throws IOException {
        DecodedImage rgb = ImageDecoder.decode(encode(noise(5, 3), "png"), LIMITS);
        assertEquals(5, rgb.width());
        assertEquals(3, rgb.height());
        assertEquals(8, rgb.bits());
        DecodedImage gray16 = ImageDecoder.decode(encode(new BufferedImage(4, 4, BufferedImage.TYPE_USHORT_GRAY), "png"), LIMITS);
        assertEquals(16, gray16.bits());
        assertTrue(gray16.red() == gray16.blue());
    }

    @Test
    void otherFormatsAreNamedInTheError() throws IOException {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> ImageDecoder.decode(encode(noise(4, 4), "bmp"), LIMITS));
        assertTrue(e.getMessage().contains("bmp"), e.getMessage());
    }

    static BufferedImage noise(int w, int h) {
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Random r = new Random(1);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                img.setRGB(x, y, r.nextInt(1 << 24));
            }
        }
        return img;
    }

    static byte[] encode(BufferedImage img, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(img, format, out), format);
        return out.toByteArray();
    }

    static byte[] pngHeader(int width, int height) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(ihdr);
        d.writeBytes("IHDR");
        d.writeInt(width);
        d.writeInt(height);
        d.write(new byte[] {8, 2, 0, 0, 0});
        byte[] chunk = ihdr.toByteArray();
        out.writeInt(chunk.length - 4);
        out.write(chunk);
        CRC32 crc = new CRC32();
        crc.update(chunk);
        out.writeInt((int) crc.getValue());
        return bytes.toByteArray();
    }
}
