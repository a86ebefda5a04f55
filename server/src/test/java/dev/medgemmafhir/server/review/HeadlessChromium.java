package dev.medgemmafhir.server.review;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.WebDriverWait;

/**
 * Debian's headless Chromium driven through its own chromedriver (never a downloaded one: the
 * paths are given, so Selenium Manager has nothing to look up), plus axe-core from npm for the
 * accessibility checks.
 */
public final class HeadlessChromium implements AutoCloseable {

  static final String SKIP_ENV = "MEDGEMMA_SKIP_BROWSER_TESTS";
  static final Path CHROMIUM = Path.of(System.getProperty("medgemma.test.chromium", "/usr/bin/chromium"));
  static final Path CHROMEDRIVER = Path.of(System.getProperty("medgemma.test.chromedriver", "/usr/bin/chromedriver"));
  static final Path AXE = Path.of("src/test/js/node_modules/axe-core/axe.min.js");
  static final Path SCREENSHOTS = Path.of("target/screenshots");

  public final ChromeDriver driver;

  private HeadlessChromium(ChromeDriver driver) {
    this.driver = driver;
  }

  /**
   * Starts the browser; fails with the install commands when Chromium, its driver or axe-core are
   * missing (skipped only when {@value #SKIP_ENV}=true).
   */
  public static HeadlessChromium start() {
    String missing = !Files.isExecutable(CHROMIUM) ? CHROMIUM + " (apt-get install chromium)"
        : !Files.isExecutable(CHROMEDRIVER) ? CHROMEDRIVER + " (apt-get install chromium-driver)"
        : !Files.isRegularFile(AXE) ? AXE.toAbsolutePath() + " (sh server/src/test/js/install.sh)"
        : null;
    if (missing != null) {
      Assumptions.assumeFalse("true".equalsIgnoreCase(System.getenv(SKIP_ENV)),
          SKIP_ENV + "=true: skipping the browser tests (" + missing + " is missing)");
      Assertions.fail("The review app's browser tests need " + missing + "; .ci/run installs it. Set " + SKIP_ENV
          + "=true to skip them.");
    }
    System.setProperty("webdriver.chrome.driver", CHROMEDRIVER.toString());
    ChromeOptions options = new ChromeOptions();
    options.setBinary(CHROMIUM.toFile());
    // CI runs as root, where Chromium's sandbox cannot start.
    options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
        "--window-size=1280,900", "--lang=en-US", "--no-first-run", "--disable-extensions");
    ChromeDriverService service = new ChromeDriverService.Builder()
        .usingDriverExecutable(CHROMEDRIVER.toFile())
        .usingAnyFreePort()
        .build();
    return new HeadlessChromium(new ChromeDriver(service, options));
  }

  public WebDriverWait waiting() {
    return new WebDriverWait(driver, Duration.ofSeconds(30));
  }

  public Object script(String script, Object... args) {
    return ((JavascriptExecutor) driver).executeScript(script, args);
  }

  /** Writes a PNG of the viewport to target/screenshots. */
  public Path screenshot(String name) {
    try {
      Files.createDirectories(SCREENSHOTS);
      Path file = SCREENSHOTS.resolve(name + ".png");
      File shot = ((TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
      Files.copy(shot.toPath(), file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      return file;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Runs axe-core in the page; returns "id (impact): help [selectors]" for serious and critical violations. */
  @SuppressWarnings("unchecked")
  public List<String> seriousAccessibilityViolations() {
    try {
      script(Files.readString(AXE, StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    Object result = ((JavascriptExecutor) driver).executeAsyncScript("""
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then((r) => done(r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
              nodes: v.nodes.map((n) => n.target.join(' ')).join(', ') }))))
          .catch((e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), nodes: '' }]));
        """);
    assertThat(result).as("axe-core result").isInstanceOf(List.class);
    return ((List<Map<String, Object>>) result).stream()
        .filter(v -> "serious".equals(v.get("impact")) || "critical".equals(v.get("impact")))
        .map(v -> v.get("id") + " (" + v.get("impact") + "): " + v.get("help") + " [" + v.get("nodes") + "]")
        .toList();
  }

  @Override
  public void close() {
    driver.quit();
  }
}
