package dev.medgemmafhir.engine.pull;

/** What a pull reports while it runs; the CLI draws it, tests record it. */
public interface PullProgress {

  /** The pull will fetch {@code files} files of {@code totalBytes} bytes in all. */
  void begin(int files, long totalBytes);

  /** A file starts (or resumes: {@code alreadyHave} bytes are on disk from an earlier try). */
  void file(String path, long size, long alreadyHave);

  /** {@code bytes} more bytes are on disk (downloaded, or found complete from an earlier run). */
  void advance(long bytes);

  /** Something the operator should read (a retry, a skip). */
  void message(String text);

  /** All files are done. */
  void end();

  PullProgress SILENT = new PullProgress() {
    @Override public void begin(int files, long totalBytes) {}
    @Override public void file(String path, long size, long alreadyHave) {}
    @Override public void advance(long bytes) {}
    @Override public void message(String text) {}
    @Override public void end() {}
  };
}
