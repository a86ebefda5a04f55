package dev.medgemmafhir.engine.model;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Supplier;

/**
 * SHA-256 over a variant's files (each file's path relative to the model directory, then its
 * bytes), computed once on first use because it reads gigabytes. Identifies the exact weights a
 * FHIR Device version names.
 */
public final class WeightsDigest implements Supplier<String> {

    private final Path root;
    private final List<Path> files;
    private volatile String value;

    public WeightsDigest(Path root, List<Path> files) {
        this.root = root;
        this.files = List.copyOf(files);
    }

    @Override
    public String get() {
        String v = value;
        if (v == null) {
            synchronized (this) {
                if (value == null) {
                    value = compute();
                }
                v = value;
            }
        }
        return v;
    }

    private String compute() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 20];
            for (Path f : files) {
                sha.update(root.relativize(f).toString().replace('\\', '/').getBytes(StandardCharsets.UTF_8));
                sha.update((byte) 0);
                try (InputStream in = Files.newInputStream(f)) {
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        sha.update(buf, 0, n);
                    }
                }
            }
            return "sha256:" + HexFormat.of().formatHex(sha.digest());
        } catch (IOException e) {
            throw new ModelLoadException("cannot read model files for the weights digest: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
