package dev.medgemmafhir.server.faults;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;

/**
 * A child process for {@link H2DurabilityTest}: commits one row at a time on the given JDBC URL
 * (autocommit, as the server's transactions end) and prints each id once its commit returned,
 * so the parent knows exactly which writes were acknowledged when it kills this process.
 */
public final class H2Writer {

  private H2Writer() {}

  public static void main(String[] args) throws Exception {
    try (Connection connection = DriverManager.getConnection(args[0], "sa", "")) {
      connection.createStatement().execute(
          "CREATE TABLE IF NOT EXISTS ack (id BIGINT PRIMARY KEY, payload VARCHAR(200) NOT NULL)");
      long next = Long.parseLong(args[1]);
      try (PreparedStatement insert = connection.prepareStatement("INSERT INTO ack (id, payload) VALUES (?, ?)")) {
        while (true) {
          insert.setLong(1, next);
          insert.setString(2, "acknowledged write " + next);
          insert.executeUpdate();
          System.out.println(next);
          System.out.flush();
          next++;
        }
      }
    }
  }
}
