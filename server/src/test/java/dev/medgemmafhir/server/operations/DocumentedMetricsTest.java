package dev.medgemmafhir.server.operations;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The README's metric names are the names {@code /actuator/prometheus} exports. */
class DocumentedMetricsTest extends AiOperationsServer {

  @Test
  void everyMetricTheReadmeNamesIsExported() throws Exception {
    String readme = Files.readString(Path.of("..", "README.md"));
    String section = readme.substring(readme.indexOf("### Metrics"));
    section = section.substring(0, section.indexOf("\n#", 5));
    List<String> names = new ArrayList<>();
    Matcher m = Pattern.compile("`(medgemma_[a-z_]+)`").matcher(section);
    while (m.find()) {
      names.add(m.group(1));
    }
    assertThat(names).hasSizeGreaterThanOrEqualTo(6);

    String model = register("metrics", ScriptedEngine.images("metrics", 4096, 16, request -> "## Impression\nOk."));
    HttpResponse<String> report = post("/" + StudyFixtures.create(client, s -> { }).study() + "/$draft-report",
        DraftReportFailureTest.withModel(model, picture("png", 4, 16, 16)));
    assertThat(report.statusCode()).as(report.body()).isEqualTo(200);

    String scrape = get("/actuator/prometheus").body();
    for (String name : names) {
      assertThat(scrape).as("exported series for %s", name)
          .containsPattern("(?m)^" + name + "(_count|_sum|_max)?[{ ]");
    }
    // Time to first text is per model and operation, one sample for the one report drafted.
    assertThat(scrape).containsPattern("(?m)^medgemma_generation_first_token_seconds_count\\{[^}]*model=\"metrics\""
        + "[^}]*operation=\"draft-report\"[^}]*} 1(\\.0)?$");
  }
}
