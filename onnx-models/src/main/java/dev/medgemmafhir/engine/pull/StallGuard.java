package dev.medgemmafhir.engine.pull;

import java.io.Closeable;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Closes a download stream that has delivered nothing for a while.
 *
 * <p>{@code java.net.http} has no read timeout once headers have arrived, so a TCP connection that
 * goes silent (a dead NAT entry, a stuck proxy) would block an init container forever. Closing the
 * stream turns the silence into an IOException, and the pull resumes with a Range request.
 */
final class StallGuard implements Closeable {
  private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "pull-stall-guard");
    t.setDaemon(true);
    return t;
  });

  private final Closeable stream;
  private final long limitNanos;
  private final ScheduledFuture<?> check;
  private volatile long lastProgress = System.nanoTime();
  private volatile boolean fired;

  StallGuard(Closeable stream, Duration limit) {
    this.stream = stream;
    this.limitNanos = limit.toNanos();
    long period = Math.max(10, limit.toMillis() / 4);
    this.check = TIMER.scheduleAtFixedRate(this::checkNow, period, period, TimeUnit.MILLISECONDS);
  }

  /** Bytes arrived. */
  void progressed() {
    lastProgress = System.nanoTime();
  }

  /** Whether the guard closed the stream; the caller then reports a stall, not a generic error. */
  boolean fired() {
    return fired;
  }

  private void checkNow() {
    if (!fired && System.nanoTime() - lastProgress > limitNanos) {
      fired = true;
      try {
        stream.close();
      } catch (IOException | RuntimeException ignored) {
        // the reader sees the closed stream; nothing more to do here
      }
    }
  }

  @Override
  public void close() {
    check.cancel(false);
  }
}
