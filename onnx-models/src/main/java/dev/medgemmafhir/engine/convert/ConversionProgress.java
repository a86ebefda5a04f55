package dev.medgemmafhir.engine.convert;

/** Told how many source bytes have been converted; the CLI draws it as a progress bar. */
public interface ConversionProgress {

    ConversionProgress NONE = new ConversionProgress() {
        @Override
        public void begin(long totalBytes) {
        }

        @Override
        public void stage(String name) {
        }

        @Override
        public void advance(long bytes) {
        }

        @Override
        public void end() {
        }
    };

    void begin(long totalBytes);

    /** A new graph or file is being written. */
    void stage(String name);

    void advance(long bytes);

    void end();
}
