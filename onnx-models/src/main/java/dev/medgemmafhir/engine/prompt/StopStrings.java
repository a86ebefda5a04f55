package dev.medgemmafhir.engine.prompt;

import java.util.List;

/**
 * Watches streamed text for stop strings. Text that could be the start of a stop string is held
 * back until the next delta shows it is not, so a listener never sees any part of a stop string.
 */
public final class StopStrings {

    private final List<String> stops;
    private final StringBuilder pending = new StringBuilder();
    private boolean stopped;

    public StopStrings(List<String> stops) {
        this.stops = List.copyOf(stops);
    }

    /** Takes a delta; returns the text now safe to emit. After a stop string it returns the text before it and {@link #stopped()} is true. */
    public String accept(String delta) {
        if (stopped) {
            return "";
        }
        if (stops.isEmpty()) {
            return delta;
        }
        pending.append(delta);
        int cut = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (cut < 0 || i < cut)) {
                cut = i;
            }
        }
        if (cut >= 0) {
            stopped = true;
            String out = pending.substring(0, cut);
            pending.setLength(0);
            return out;
        }
        int hold = 0;
        String text = pending.toString();
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, text.length()); k > hold; k--) {
                if (text.regionMatches(text.length() - k, s, 0, k)) {
                    hold = k;
                    break;
                }
            }
        }
        String out = pending.substring(0, pending.length() - hold);
        pending.delete(0, pending.length() - hold);
        return out;
    }

    /** Whether a stop string was seen. */
    public boolean stopped() {
        return stopped;
    }

    /** The held-back text, at the end of a generation that did not stop on a stop string. */
    public String flush() {
        String out = pending.toString();
        pending.setLength(0);
        return out;
    }
}
