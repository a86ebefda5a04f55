package dev.medgemmafhir.interceptors.audit;

import java.time.Clock;

/**
 * How many calls refused for lack of a valid token (401) get an AuditEvent of their own: a token
 * bucket of {@code perMinute} that refills evenly over a minute, so anyone on the network cannot
 * fill the database by calling without a token. Calls over the budget are counted, and the count is
 * carried by the next AuditEvent that is written for such a call.
 */
public final class UnauthenticatedAuditBudget {

  private static final double MINUTE_MS = 60_000d;

  private final int perMinute;
  private final Clock clock;
  private double tokens;
  private long refilledAt;
  private long unrecorded;

  public UnauthenticatedAuditBudget(int perMinute, Clock clock) {
    if (perMinute < 0) {
      throw new IllegalArgumentException("medgemma.audit.unauthenticated-per-minute must be >= 0");
    }
    this.perMinute = perMinute;
    this.clock = clock;
    this.tokens = perMinute;
    this.refilledAt = clock.millis();
  }

  /**
   * Takes one AuditEvent from the budget: the number of calls left unrecorded since the last
   * recorded one (0 or more), or -1 when this call is over the budget and is only counted.
   */
  public synchronized long take() {
    long now = clock.millis();
    tokens = Math.min(perMinute, tokens + (now - refilledAt) * perMinute / MINUTE_MS);
    refilledAt = now;
    if (tokens < 1) {
      unrecorded++;
      return -1;
    }
    tokens -= 1;
    long skipped = unrecorded;
    unrecorded = 0;
    return skipped;
  }
}
