package dev.medgemmafhir.operations.async;

import dev.medgemmafhir.operations.async.AsyncJob.State;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import javax.sql.DataSource;
import org.springframework.jdbc.core.JdbcTemplate;

/**
 * The asynchronous jobs table ({@code mgf_async_job}) in the server's own database, H2 or
 * PostgreSQL. Plain SQL that both accept; the table is created on first use.
 */
public final class AsyncJobStore {

  /** Longest stored result; a draft is a few kilobytes. */
  static final int MAX_RESULT_CHARS = 1_000_000;

  private final JdbcTemplate jdbc;

  public AsyncJobStore(DataSource dataSource) {
    this.jdbc = new JdbcTemplate(dataSource);
    jdbc.execute("""
        CREATE TABLE IF NOT EXISTS mgf_async_job (
          job_id VARCHAR(64) PRIMARY KEY,
          operation VARCHAR(64) NOT NULL,
          target VARCHAR(256) NOT NULL,
          state VARCHAR(16) NOT NULL,
          progress VARCHAR(512),
          http_status INTEGER,
          location VARCHAR(256),
          result_json VARCHAR(1000000),
          owner VARCHAR(128) NOT NULL,
          created_at TIMESTAMP NOT NULL,
          updated_at TIMESTAMP NOT NULL,
          heartbeat_at TIMESTAMP NOT NULL
        )""");
  }

  public void insert(String id, String operation, String target, String owner, Instant now) {
    Timestamp ts = Timestamp.from(now);
    jdbc.update("INSERT INTO mgf_async_job (job_id, operation, target, state, progress, owner, created_at, updated_at,"
        + " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", id, operation, target, State.QUEUED.name(), "queued",
        owner, ts, ts, ts);
  }

  public Optional<AsyncJob> find(String id) {
    List<AsyncJob> jobs = jdbc.query("SELECT * FROM mgf_async_job WHERE job_id = ?", this::map, id);
    return jobs.stream().findFirst();
  }

  /** Whether a job of {@code operation} (e.g. {@code summarize}) on {@code target} is queued or running, on any replica. */
  public boolean live(String operation, String target) {
    Integer jobs = jdbc.queryForObject("SELECT COUNT(*) FROM mgf_async_job WHERE operation = ? AND target = ?"
        + " AND state IN ('QUEUED', 'RUNNING')", Integer.class, operation, target);
    return jobs != null && jobs > 0;
  }

  /** Moves a live job to RUNNING with a progress text; false when it ended (e.g. was cancelled). */
  public boolean progress(String id, String text, Instant now) {
    return jdbc.update("UPDATE mgf_async_job SET state = ?, progress = ?, updated_at = ?, heartbeat_at = ?"
        + " WHERE job_id = ? AND state IN ('QUEUED', 'RUNNING')", State.RUNNING.name(), truncate(text, 500),
        Timestamp.from(now), Timestamp.from(now), id) == 1;
  }

  /** Marks live jobs of this replica as alive; returns the ids among them that were cancelled meanwhile. */
  public List<String> heartbeat(List<String> ids, Instant now) {
    if (ids.isEmpty()) {
      return List.of();
    }
    String in = String.join(",", java.util.Collections.nCopies(ids.size(), "?"));
    Object[] args = new Object[ids.size() + 1];
    args[0] = Timestamp.from(now);
    for (int i = 0; i < ids.size(); i++) {
      args[i + 1] = ids.get(i);
    }
    jdbc.update("UPDATE mgf_async_job SET heartbeat_at = ? WHERE state IN ('QUEUED', 'RUNNING') AND job_id IN (" + in + ")", args);
    return jdbc.queryForList("SELECT job_id FROM mgf_async_job WHERE state = 'CANCELLED' AND job_id IN (" + in + ")",
        String.class, java.util.Arrays.copyOfRange(args, 1, args.length));
  }

  /** Records how a live job ended; false when it had already ended (cancelled). */
  public boolean finish(String id, State state, int httpStatus, String location, String resultJson, Instant now) {
    return jdbc.update("UPDATE mgf_async_job SET state = ?, http_status = ?, location = ?, result_json = ?,"
        + " progress = ?, updated_at = ? WHERE job_id = ? AND state IN ('QUEUED', 'RUNNING')", state.name(), httpStatus,
        location, truncate(resultJson, MAX_RESULT_CHARS), state.name().toLowerCase(java.util.Locale.ROOT),
        Timestamp.from(now), id) == 1;
  }

  /** Cancels a live job; false when there is no such job or it already ended (completed, failed or cancelled). */
  public boolean cancel(String id, Instant now) {
    return jdbc.update("UPDATE mgf_async_job SET state = 'CANCELLED', progress = 'cancelled', updated_at = ?"
        + " WHERE job_id = ? AND state IN ('QUEUED', 'RUNNING')", Timestamp.from(now), id) == 1;
  }

  /**
   * Fails every live job whose replica stopped sending heartbeats (it crashed or was restarted):
   * such a job would otherwise stay "running" forever.
   */
  public int failAbandoned(Instant heartbeatBefore, String outcomeJson, Instant now) {
    return jdbc.update("UPDATE mgf_async_job SET state = 'FAILED', http_status = 500, result_json = ?,"
        + " progress = 'failed: abandoned', updated_at = ? WHERE state IN ('QUEUED', 'RUNNING') AND heartbeat_at < ?",
        outcomeJson, Timestamp.from(now), Timestamp.from(heartbeatBefore));
  }

  /** Forgets one ended job. */
  public boolean forget(String id) {
    return jdbc.update("DELETE FROM mgf_async_job WHERE job_id = ? AND state IN ('COMPLETED', 'FAILED', 'CANCELLED')",
        id) == 1;
  }

  /** Forgets ended jobs older than the retention. */
  public int purgeEndedBefore(Instant before) {
    return jdbc.update("DELETE FROM mgf_async_job WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND updated_at < ?",
        Timestamp.from(before));
  }

  private AsyncJob map(ResultSet rs, int row) throws SQLException {
    Number status = (Number) rs.getObject("http_status");
    return new AsyncJob(
        rs.getString("job_id"),
        rs.getString("operation"),
        rs.getString("target"),
        State.valueOf(rs.getString("state")),
        rs.getString("progress"),
        status == null ? null : status.intValue(),
        rs.getString("location"),
        rs.getString("result_json"),
        rs.getString("owner"),
        rs.getTimestamp("created_at").toInstant(),
        rs.getTimestamp("heartbeat_at").toInstant());
  }

  private static String truncate(String text, int max) {
    return text == null || text.length() <= max ? text : text.substring(0, max);
  }
}
