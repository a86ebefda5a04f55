package dev.medgemmafhir.interceptors.audit;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class UnauthenticatedAuditBudgetTest {

  /** A clock the test moves by hand. */
  static final class HandClock extends Clock {
    Instant now = Instant.parse("2026-01-01T00:00:00Z");

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now;
    }
  }

  @Test
  void aBurstGetsTheBudgetThenCallsAreOnlyCountedAndTheNextRecordCarriesTheCount() {
    HandClock clock = new HandClock();
    UnauthenticatedAuditBudget budget = new UnauthenticatedAuditBudget(3, clock);

    assertThat(IntStream.range(0, 3).mapToLong(i -> budget.take())).containsOnly(0L);
    assertThat(IntStream.range(0, 100).mapToLong(i -> budget.take())).containsOnly(-1L);

    clock.now = clock.now.plus(Duration.ofSeconds(20)); // a third of a minute: one more
    assertThat(budget.take()).isEqualTo(100);
    assertThat(budget.take()).isEqualTo(-1);

    clock.now = clock.now.plus(Duration.ofHours(1)); // refills to the budget, not beyond
    assertThat(IntStream.range(0, 4).mapToLong(i -> budget.take())).containsExactly(1L, 0L, 0L, -1L);
  }

  @Test
  void zeroRecordsNone() {
    UnauthenticatedAuditBudget budget = new UnauthenticatedAuditBudget(0, Clock.systemUTC());
    assertThat(budget.take()).isEqualTo(-1);
  }
}
