package dev.medgemmafhir.operations.draftreport;

import java.util.Optional;

/** Recognises PNG and JPEG files by their signature, the only formats the engine decodes. */
final class ImageFormat {

  static final String PNG = "image/png";
  static final String JPEG = "image/jpeg";

  private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

  private ImageFormat() {}

  /** {@code image/png} or {@code image/jpeg} when the bytes start like one, else empty. */
  static Optional<String> sniff(byte[] bytes) {
    if (bytes.length >= PNG_SIGNATURE.length) {
      boolean png = true;
      for (int i = 0; i < PNG_SIGNATURE.length; i++) {
        png &= bytes[i] == PNG_SIGNATURE[i];
      }
      if (png) {
        return Optional.of(PNG);
      }
    }
    if (bytes.length >= 3 && (bytes[0] & 0xff) == 0xff && (bytes[1] & 0xff) == 0xd8 && (bytes[2] & 0xff) == 0xff) {
      return Optional.of(JPEG);
    }
    return Optional.empty();
  }
}
