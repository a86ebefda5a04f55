package dev.medgemmafhir.server.operations;

import dev.medgemmafhir.engine.forge.ForgeSpec;
import dev.medgemmafhir.engine.forge.ModelForge;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Tiny random-weight models with the real exports' interface, forged once per test JVM. */
final class ForgedModels {

  private static Path textOnly;
  private static Path imageText;

  private ForgedModels() {}

  static synchronized Path textOnly() {
    if (textOnly == null) {
      textOnly = forge(ForgeSpec.textOnly().seed(7), "text-only");
    }
    return textOnly;
  }

  static synchronized Path imageText() {
    if (imageText == null) {
      imageText = forge(ForgeSpec.imageText().seed(11), "image-text");
    }
    return imageText;
  }

  private static Path forge(ForgeSpec spec, String name) {
    try {
      Path dir = Files.createTempDirectory("medgemma-forged-" + name);
      ModelForge.forge(spec, dir);
      dir.toFile().deleteOnExit();
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
