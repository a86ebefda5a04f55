package dev.medgemmafhir.engine.pull;

import java.io.PrintStream;
import java.util.Locale;

/**
 * Draws pull progress on stderr (stdout stays free for scripts). On a terminal it redraws one
 * line; in a container log, where carriage returns pile up into one huge line, it prints a line
 * per file and every tenth of the total.
 */
public final class ProgressBar implements PullProgress {
  private static final int WIDTH = 30;
  private static final long REDRAW_NANOS = 200_000_000L;

  private final PrintStream out;
  private final boolean interactive;
  private long total;
  private long done;
  private String current = "";
  private long lastDraw;
  private int lastTenth = -1;

  public ProgressBar(PrintStream out, boolean interactive) {
    this.out = out;
    this.interactive = interactive;
  }

  /** stderr, redrawn in place only when a console is attached. */
  public static ProgressBar onStderr() {
    return new ProgressBar(System.err, System.console() != null);
  }

  @Override
  public void begin(int files, long totalBytes) {
    start("pulling " + files + " files, " + human(totalBytes), totalBytes);
  }

  /** Starts a bar of {@code totalBytes} under a headline of the caller's words (models convert uses it too). */
  public void start(String headline, long totalBytes) {
    total = totalBytes;
    out.println(headline);
  }

  @Override
  public void file(String path, long size, long alreadyHave) {
    current = path;
    if (!interactive) {
      out.println((alreadyHave > 0 ? "  resuming " : "  ") + path + (size < 0 ? "" : " (" + human(size)
          + (alreadyHave > 0 ? ", " + human(alreadyHave) + " already here" : "") + ")"));
    }
    draw(true);
  }

  @Override
  public void advance(long bytes) {
    done += bytes;
    draw(false);
  }

  @Override
  public void message(String text) {
    if (interactive) {
      out.print("\r\033[K");
    }
    out.println(text);
    draw(true);
  }

  @Override
  public void end() {
    if (interactive) {
      draw(true);
      out.println();
    }
    out.println("done: " + human(done));
  }

  private void draw(boolean force) {
    int percent = total > 0 ? (int) Math.min(100, done * 100 / total) : 0;
    if (!interactive) {
      int tenth = percent / 10;
      if (tenth != lastTenth && total > 0) {
        lastTenth = tenth;
        out.println("  " + percent + "% (" + human(done) + " of " + human(total) + ")");
      }
      return;
    }
    long now = System.nanoTime();
    if (!force && now - lastDraw < REDRAW_NANOS) {
      return;
    }
    lastDraw = now;
    int filled = percent * WIDTH / 100;
    out.print("\r\033[K[" + "#".repeat(filled) + " ".repeat(WIDTH - filled) + "] " + percent + "% "
        + human(done) + "/" + human(total) + "  " + current);
    out.flush();
  }

  public static String human(long bytes) {
    if (bytes < 0) {
      return "? B";
    }
    String[] units = {"B", "KB", "MB", "GB", "TB"};
    double v = bytes;
    int u = 0;
    while (v >= 1000 && u < units.length - 1) {
      v /= 1000;
      u++;
    }
    return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
  }
}
