package dev.medgemmafhir.engine.pull;

import java.nio.file.Path;
import java.util.List;

/**
 * What to pull and where.
 *
 * @param repo      hub repository, {@code owner/name}
 * @param revision  branch, tag or commit
 * @param dtype     quantization to keep (see {@link VariantSelection#dtypes()})
 * @param subfolder repository folder that is the model root, or null
 * @param includes  extra glob patterns to pull as well
 * @param target    the model directory to create; it appears only once complete
 * @param force     pull again even if {@code target} already exists
 */
public record PullSpec(String repo, String revision, String dtype, String subfolder,
    List<String> includes, Path target, boolean force) {

  public PullSpec {
    if (repo == null || !repo.matches("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")) {
      throw new IllegalArgumentException("repository must look like owner/name, got: " + repo);
    }
    revision = revision == null || revision.isBlank() ? "main" : revision;
    includes = includes == null ? List.of() : List.copyOf(includes);
  }
}
