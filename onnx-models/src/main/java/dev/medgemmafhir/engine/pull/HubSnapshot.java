package dev.medgemmafhir.engine.pull;

import java.util.List;

/**
 * A repository at one commit: the revision the user asked for is resolved to a commit id once,
 * and every file is then downloaded from that commit so a push to the branch mid-pull cannot mix
 * files of two versions.
 */
public record HubSnapshot(String repo, String revision, String commit, List<HubFile> files) {
  public HubSnapshot {
    files = List.copyOf(files);
  }
}
