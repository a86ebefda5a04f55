package dev.medgemmafhir.operations.run;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.TreeSet;

/**
 * A digest of everything that decides a draft: the operation and its prompt version, the
 * parameters, the exact model, and the version of every input resource. Equal keys mean a retry
 * may be answered with the draft already written.
 */
public final class IdempotencyKey {

  private IdempotencyKey() {}

  public static String of(String operation, String promptVersion, List<String> parameters,
      String modelIdentifier, List<String> versionedInputs) {
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      update(sha, operation);
      update(sha, promptVersion);
      parameters.forEach(p -> update(sha, p));
      update(sha, modelIdentifier);
      // Input order depends on search order; the set of versions is what matters.
      new TreeSet<>(versionedInputs).forEach(i -> update(sha, i));
      return operation + "-" + HexFormat.of().formatHex(sha.digest());
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void update(MessageDigest sha, String value) {
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    sha.update(Integer.toString(bytes.length).getBytes(StandardCharsets.US_ASCII));
    sha.update((byte) ':');
    sha.update(bytes);
  }
}
