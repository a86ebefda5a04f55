package dev.medgemmafhir.server.wiring;

import ca.uhn.fhir.interceptor.api.IInterceptorService;
import dev.medgemmafhir.operations.autodraft.AutoDrafting;
import dev.medgemmafhir.operations.draftreport.DraftReportOperation;
import dev.medgemmafhir.operations.summarize.SummarizeOperation;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Automatic drafting, off unless {@code medgemma.auto-draft.enabled=true}: the storage pipeline
 * starts the configured rules' operations as asynchronous jobs.
 */
@Configuration
@ConditionalOnProperty(name = "medgemma.auto-draft.enabled", havingValue = "true")
@EnableConfigurationProperties(AutoDraftWiring.AutoDraftProperties.class)
public class AutoDraftWiring {

  /**
   * {@code medgemma.auto-draft.*}; every property is listed with its default in the README.
   *
   * @param enabled start drafts automatically
   * @param rules which rules run: {@code encounter-finished-discharge}, {@code imaging-study-available-report}
   * @param model the model id the automatic jobs use; empty = each operation's default
   */
  @ConfigurationProperties("medgemma.auto-draft")
  public record AutoDraftProperties(Boolean enabled, List<String> rules, String model) {
    public AutoDraftProperties {
      enabled = enabled != null && enabled;
      rules = rules == null ? List.of() : List.copyOf(rules);
      model = model == null ? "" : model.strip();
    }

    Set<AutoDrafting.Rule> enabledRules() {
      Set<AutoDrafting.Rule> set = EnumSet.noneOf(AutoDrafting.Rule.class);
      rules.forEach(code -> set.add(AutoDrafting.Rule.fromCode(code)));
      return set;
    }
  }

  /** On the JPA interceptor service: every write (REST, transaction, internal) passes through it. */
  @Bean(destroyMethod = "close")
  public AutoDrafting autoDrafting(AutoDraftProperties properties, SummarizeOperation summarize,
      DraftReportOperation draftReport, MeterRegistry meters, IInterceptorService jpaInterceptors,
      org.springframework.beans.factory.ObjectProvider<dev.medgemmafhir.interceptors.audit.AuditEventInterceptor> audit) {
    // A job that could not start is audited as a failed one; a started job's end is audited by its kick-off.
    AutoDrafting drafting = new AutoDrafting(properties.enabledRules(), summarize, draftReport, properties.model(),
        meters, (kickoff, status, result) -> audit.ifAvailable(a -> a.recordJobEnd(kickoff, status, result)));
    jpaInterceptors.registerInterceptor(drafting);
    return drafting;
  }
}
