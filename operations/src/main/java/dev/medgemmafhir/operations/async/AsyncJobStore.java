package dev.medgemmafhir.operations.async;

import dev.medgemmafhir.operations.async.AsyncJob.State;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import javax.sql.DataSource;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.support.TransactionTemplate;

/**
 * The asynchronous jobs table ({@code mgf_async_job}) in the server's own database, H2 or
 * PostgreSQL. Plain SQL that both accept; the table is created on first use.
 */
public final class AsyncJobStore {

  /** Longest stored result; a draft is a few kilobytes. */
  static final int MAX_RESULT_CHARS = 1_000_000;

  /** {@code pg_advisory_xact_lock}'s first key: "mgf_async_job" kick-offs, apart from any other advisory lock. */
  private static final int ADVISORY_LOCK_CLASS = 0x6d676631;
  /** H2 runs embedded in one process (its file is locked to it), so a lock of the process is a lock of the database. */
  private static final Object H2_LIVE_JOB_LOCK = new Object();

  private final JdbcTemplate jdbc;
  /** A transaction of its own, committed before the kick-off answers, whatever the caller's. */
  private final TransactionTemplate ownTransaction;
  private final boolean postgres;

  public AsyncJobStore(DataSource dataSource) {
    this.jdbc = new JdbcTemplate(dataSource);
    this.ownTransaction = new TransactionTemplate(new DataSourceTransactionManager(dataSource));
    ownTransaction.setPropagationBehavior(TransactionDefinition.PROPAGATION_REQUIRES_NEW);
    this.postgres = Boolean.TRUE.equals(jdbc.execute((Connection c) ->
        c.getMetaData().getDatabaseProductName().toLowerCase(Locale.ROOT).contains("postgres")));
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

  /**
   * Inserts the job unless a job of the same operation on the same target is queued or running, in
   * one step that concurrent callers on any replica cannot interleave: on PostgreSQL under a
   * transaction-scoped advisory lock keyed by operation and target (a plain "check, then insert"
   * lets two callers both see none and both insert); on H2, which one process owns, under a lock of
   * this process. Returns the live job's id when there was one (and nothing was inserted).
   */
  public Optional<String> insertUnlessLive(String id, String operation, String target, String owner, Instant now) {
    if (!postgres) {
      synchronized (H2_LIVE_JOB_LOCK) {
        return checkAndInsert(id, operation, target, owner, now);
      }
    }
    return ownTransaction.execute(status -> {
      // Two ints: a fixed class for this table, and the key's hash (a collision only serialises two kick-offs).
      jdbc.queryForList("SELECT pg_advisory_xact_lock(?, ?)", ADVISORY_LOCK_CLASS, (operation + "|" + target).hashCode());
      return checkAndInsert(id, operation, target, owner, now);
    });
  }

  /** The step {@link #insertUnlessLive} makes atomic; in its transaction on PostgreSQL (the template joins it). */
  private Optional<String> checkAndInsert(String id, String operation, String target, String owner, Instant now) {
    List<String> live = jdbc.queryForList("SELECT job_id FROM mgf_async_job WHERE operation = ? AND target = ?"
        + " AND state IN ('QUEUED', 'RUNNING') ORDER BY created_at", String.class, operation, target);
    if (!live.isEmpty()) {
      return Optional.of(live.get(0));
    }
    insert(id, operation, target, owner, now);
    return Optional.empty();
  }

  public Optional<AsyncJob> find(String id) {
    List<AsyncJob> jobs = jdbc.query("SELECT * FROM mgf_async_job WHERE job_id = ?", this::map, id);
    return jobs.stream().findFirst();
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
