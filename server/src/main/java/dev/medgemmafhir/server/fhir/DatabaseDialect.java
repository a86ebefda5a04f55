package dev.medgemmafhir.server.fhir;

import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect;

/**
 * Picks HAPI's Hibernate dialect from the JDBC URL, so that pointing
 * {@code SPRING_DATASOURCE_URL} at PostgreSQL is all an operator has to do.
 */
public final class DatabaseDialect {

  private DatabaseDialect() {}

  /** The HAPI dialect class name for a JDBC URL; fails for a database we do not support. */
  public static String forJdbcUrl(String jdbcUrl) {
    if (jdbcUrl == null || jdbcUrl.isBlank()) {
      throw new IllegalArgumentException("spring.datasource.url is not set");
    }
    if (jdbcUrl.startsWith("jdbc:postgresql:")) {
      return HapiFhirPostgresDialect.class.getName();
    }
    if (jdbcUrl.startsWith("jdbc:h2:")) {
      return HapiFhirH2Dialect.class.getName();
    }
    throw new IllegalArgumentException(
        "Unsupported database URL '" + jdbcUrl.replaceAll("//[^/]*@", "//***@")
            + "': medgemma-fhir runs on PostgreSQL (production) or H2 (embedded default)");
  }
}
