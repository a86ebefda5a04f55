package dev.medgemmafhir.interceptors.smart;

/** The access token is missing, malformed, unsigned by the issuer, expired or not for us. */
public class InvalidTokenException extends Exception {

  public InvalidTokenException(String message) {
    super(message);
  }
}
