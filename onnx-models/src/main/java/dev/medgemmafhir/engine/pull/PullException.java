package dev.medgemmafhir.engine.pull;

/** A pull that cannot complete; the message is written for the operator who runs the pull. */
public class PullException extends Exception {
  public PullException(String message) {
    super(message);
  }

  public PullException(String message, Throwable cause) {
    super(message, cause);
  }
}
