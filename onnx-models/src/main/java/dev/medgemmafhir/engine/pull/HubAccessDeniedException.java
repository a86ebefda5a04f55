package dev.medgemmafhir.engine.pull;

/**
 * The hub refused access (HTTP 401/403). Kept distinct so the CLI can exit with its own code: an
 * init container that fails for this reason needs a token or a licence acceptance, not a retry.
 */
public class HubAccessDeniedException extends PullException {
  private final int status;

  public HubAccessDeniedException(String message, int status) {
    super(message);
    this.status = status;
  }

  public int status() {
    return status;
  }
}
