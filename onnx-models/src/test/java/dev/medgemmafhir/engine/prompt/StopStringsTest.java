package dev.medgemmafhir.engine.prompt;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class StopStringsTest {

    @Test
    void holdsBackAPossibleStartOfAStopStringUntilItIsDecided() {
        StopStrings s = new StopStrings(List.of("END"));
        assertEquals("abc ", s.accept("abc E"));
        assertEquals("Ex", s.accept("x"));
        assertFalse(s.stopped());
        assertEquals("", s.accept("EN"));
        assertEquals("", s.accept("D and more"));
        assertTrue(s.stopped());
        assertEquals("", s.accept("after"));
    }

    @Test
    void cutsBeforeTheEarliestStopString() {
        StopStrings s = new StopStrings(List.of("\n\n", "##"));
        assertEquals("line", s.accept("line##x\n\n"));
        assertTrue(s.stopped());
    }

    @Test
    void withoutStopStringsEverythingPassesAndFlushReturnsTheRest() {
        StopStrings none = new StopStrings(List.of());
        assertEquals("E", none.accept("E"));
        StopStrings s = new StopStrings(List.of("END"));
        assertEquals("x", s.accept("xEN"));
        assertEquals("EN", s.flush());
    }
}
