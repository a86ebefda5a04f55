package dev.medgemmafhir.server.faults;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.yaml.snakeyaml.Yaml;

/**
 * The embedded default database keeps every commit it acknowledged when the process is killed
 * ({@code SIGKILL}): a child JVM commits rows one by one on the JDBC URL from the server's own
 * {@code application.yaml} and reports each acknowledged commit; it is killed after a random
 * number of them, and every acknowledged row must be in the database when it is opened again.
 * Many kills in a few seconds each, so the H2 setting itself is proven apart from the server
 * (the server-level fault suite is {@code CrashRecoveryTest}).
 */
class H2DurabilityTest {

  static final int KILLS = Integer.getInteger("medgemma.faults.h2-kills", 12);

  @SuppressWarnings("unchecked")
  static String defaultJdbcUrl() throws Exception {
    try (InputStream in = H2DurabilityTest.class.getClassLoader().getResourceAsStream("application.yaml")) {
      Map<String, Object> yaml = new Yaml().load(in);
      Map<String, Object> datasource = (Map<String, Object>) ((Map<String, Object>) yaml.get("spring")).get("datasource");
      return (String) datasource.get("url");
    }
  }

  @Test
  void everyCommitTheDefaultH2UrlAcknowledgedSurvivesKill9(@TempDir Path workDir) throws Exception {
    String url = defaultJdbcUrl();
    assertThat(url).startsWith("jdbc:h2:file:./");
    long seed = Long.getLong("medgemma.faults.seed", System.nanoTime());
    Random random = new Random(seed);
    long next = 1;
    long acknowledged = 0;
    List<long[]> ranges = new ArrayList<>();
    for (int kill = 1; kill <= KILLS; kill++) {
      int killAfter = 20 + random.nextInt(400);
      List<Long> acked = new ArrayList<>();
      Process writer = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
          "-cp", System.getProperty("surefire.test.class.path", System.getProperty("java.class.path")),
          H2Writer.class.getName(), url, Long.toString(next))
          .directory(workDir.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
      try (BufferedReader out = new BufferedReader(new InputStreamReader(writer.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = out.readLine()) != null) {
          acked.add(Long.parseLong(line.strip()));
          if (acked.size() >= killAfter) {
            writer.destroyForcibly();
            break;
          }
        }
      }
      assertThat(writer.waitFor(1, TimeUnit.MINUTES)).isTrue();
      assertThat(acked).as("writes acknowledged before kill %d (seed %d)", kill, seed).hasSizeGreaterThanOrEqualTo(killAfter);
      acknowledged += acked.size();

      ranges.add(new long[] {acked.get(0), acked.get(acked.size() - 1)});

      // Reopen as the restarted server would (absolute path, same settings): every acknowledged
      // row of every round so far is there; a write in flight at the kill may or may not be.
      String reopen = url.replace("jdbc:h2:file:./", "jdbc:h2:file:" + workDir.toAbsolutePath() + "/");
      try (Connection db = DriverManager.getConnection(reopen, "sa", "")) {
        for (long[] range : ranges) {
          try (ResultSet rs = db.createStatement().executeQuery(
              "SELECT COUNT(*) FROM ack WHERE id BETWEEN " + range[0] + " AND " + range[1])) {
            rs.next();
            assertThat(rs.getLong(1)).as("acknowledged rows %d..%d after kill %d (seed %d)", range[0], range[1], kill,
                seed).isEqualTo(range[1] - range[0] + 1);
          }
        }
        try (ResultSet max = db.createStatement().executeQuery("SELECT COALESCE(MAX(id), 0) FROM ack")) {
          max.next();
          next = max.getLong(1) + 1;
        }
      }
    }
    System.out.println("H2 durability: " + KILLS + " kills, " + acknowledged + " acknowledged commits checked, 0 lost");
  }
}
