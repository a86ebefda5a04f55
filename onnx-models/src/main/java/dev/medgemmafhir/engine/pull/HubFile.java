package dev.medgemmafhir.engine.pull;

/**
 * One file of a hub repository snapshot as the hub's API describes it.
 *
 * @param path       path inside the repository, '/'-separated (e.g. {@code onnx/model_q4.onnx})
 * @param size       size in bytes, or -1 if the hub did not say
 * @param sha256     hex sha256 of the content for files stored with LFS/Xet, else null
 * @param gitBlobId  git blob id (sha1 of {@code "blob <size>\0" + content}) for small files kept
 *                   in git itself, else null; for LFS files the hub's blob id names the pointer,
 *                   not the content, so it is not recorded for them
 */
public record HubFile(String path, long size, String sha256, String gitBlobId) {

  /** The file's name without folders. */
  public String name() {
    int slash = path.lastIndexOf('/');
    return slash < 0 ? path : path.substring(slash + 1);
  }

  /** Whether the hub gave us anything to verify the content against. */
  public boolean hasChecksum() {
    return sha256 != null || gitBlobId != null;
  }
}
