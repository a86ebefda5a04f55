package dev.medgemmafhir.server.wiring;

import static dev.medgemmafhir.server.fhir.FhirRestfulServerConfig.FHIR_INTERCEPTOR;
import static dev.medgemmafhir.server.fhir.FhirRestfulServerConfig.FHIR_PROVIDER;

import ai.onnxruntime.OrtSession;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import dev.medgemmafhir.engine.MedGemmaModel;
import dev.medgemmafhir.engine.model.ExecutionProvider;
import dev.medgemmafhir.engine.model.RuntimeOptions;
import dev.medgemmafhir.operations.ask.AskOperation;
import dev.medgemmafhir.operations.ask.Asker;
import dev.medgemmafhir.operations.async.AsyncJobStore;
import dev.medgemmafhir.operations.context.EncounterSection;
import dev.medgemmafhir.operations.context.EncounterSections;
import dev.medgemmafhir.operations.context.JpaPatientRecord;
import dev.medgemmafhir.operations.context.RecordSection;
import dev.medgemmafhir.operations.context.RecordSections;
import java.util.List;
import dev.medgemmafhir.operations.async.AsyncJobs;
import dev.medgemmafhir.operations.OperationParameters;
import dev.medgemmafhir.operations.async.AsyncKickoff;
import dev.medgemmafhir.operations.async.AsyncStatusProvider;
import dev.medgemmafhir.operations.context.EncounterContextStrategy;
import dev.medgemmafhir.operations.draftreport.DicomWeb;
import dev.medgemmafhir.operations.draftreport.DraftReportOperation;
import dev.medgemmafhir.operations.draftreport.DraftReporter;
import dev.medgemmafhir.operations.draftreport.ImageChoice;
import dev.medgemmafhir.operations.draftreport.StudyImages;
import dev.medgemmafhir.operations.context.JpaEncounterContext;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.prompt.ClinicalSynonyms;
import dev.medgemmafhir.operations.prompt.Relevance;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import dev.medgemmafhir.operations.run.AiOperationFlow;
import dev.medgemmafhir.operations.run.AiTaskRunner;
import dev.medgemmafhir.operations.run.ResultWriter;
import dev.medgemmafhir.operations.summarize.SummarizeOperation;
import dev.medgemmafhir.operations.summarize.Summarizer;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.util.HashMap;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import javax.sql.DataSource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.Meta;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;

/** Wires the engine and the AI operations into the server from {@code medgemma.*} configuration. */
@Configuration
public class OperationsWiring {

  @Bean(destroyMethod = "close")
  public ModelCatalog modelCatalog(MedGemmaProperties properties, MeterRegistry meters) {
    Map<String, String> defaults = new HashMap<>();
    putDefault(defaults, "summarize", properties.operations().summarize().model(), properties);
    putDefault(defaults, "draft-report", properties.operations().draftReport().model(), properties);
    putDefault(defaults, "ask", properties.operations().ask().model(), properties);
    ModelCatalog catalog = new ModelCatalog(defaults);
    RuntimeOptions options = runtimeOptions(properties.engine());
    properties.models().forEach((id, model) -> {
      if (model.path() == null) {
        throw new IllegalStateException("medgemma.models." + id + ".path is not set");
      }
      String display = model.displayName() == null || model.displayName().isBlank() ? id : model.displayName();
      InferenceQueue queue = new InferenceQueue(id, model.concurrency(), model.maxQueue(), 10, meters);
      String dtype = model.dtype() == null || model.dtype().isBlank() ? null : model.dtype();
      RuntimeOptions modelOptions = modelOptions(options, model);
      catalog.load(id, display, () -> MedGemmaModel.load(model.path(), dtype, modelOptions), queue);
    });
    return catalog;
  }

  /**
   * The queue admits {@code concurrency} generations; the engine decodes that many as one batch, within the KV budget,
   * reading joining prompts in runs of {@code prefill-chunk} tokens (empty or 0: the engine's default).
   */
  static RuntimeOptions modelOptions(RuntimeOptions engine, MedGemmaProperties.Model model) {
    if (model.prefillChunk() != null && model.prefillChunk() < 0) {
      throw new IllegalStateException("medgemma.models.<id>.prefill-chunk must be 0 (the default) or more tokens, was "
          + model.prefillChunk());
    }
    return engine.withMaxBatch(model.concurrency())
        .withKvCacheBudgetBytes(model.kvCacheBudget() == null ? 0 : model.kvCacheBudget().toBytes())
        .withPrefillChunkTokens(model.prefillChunk() == null ? 0 : model.prefillChunk());
  }

  /** An operation without a configured model uses the only model there is. */
  private static void putDefault(Map<String, String> defaults, String operation, String configured,
      MedGemmaProperties properties) {
    if (configured != null && !configured.isBlank()) {
      if (!properties.models().containsKey(configured)) {
        throw new IllegalStateException("medgemma.operations." + operation + ".model names '" + configured
            + "', which is not under medgemma.models");
      }
      defaults.put(operation, configured);
    } else if (properties.models().size() == 1) {
      defaults.put(operation, properties.models().keySet().iterator().next());
    }
  }

  static RuntimeOptions runtimeOptions(MedGemmaProperties.Engine engine) {
    ExecutionProvider provider = switch (engine.executionProvider().toLowerCase(Locale.ROOT)) {
      case "cpu" -> ExecutionProvider.CPU;
      case "cuda" -> ExecutionProvider.CUDA;
      default -> throw new IllegalStateException(
          "medgemma.engine.execution-provider must be cpu or cuda, was " + engine.executionProvider());
    };
    OrtSession.SessionOptions.OptLevel level = switch (engine.optimizationLevel().toLowerCase(Locale.ROOT)) {
      case "none" -> OrtSession.SessionOptions.OptLevel.NO_OPT;
      case "basic" -> OrtSession.SessionOptions.OptLevel.BASIC_OPT;
      case "extended" -> OrtSession.SessionOptions.OptLevel.EXTENDED_OPT;
      case "all" -> OrtSession.SessionOptions.OptLevel.ALL_OPT;
      default -> throw new IllegalStateException(
          "medgemma.engine.optimization-level must be none, basic, extended or all, was " + engine.optimizationLevel());
    };
    return RuntimeOptions.defaults().withExecutionProvider(provider)
        .withThreads(engine.intraOpThreads(), engine.interOpThreads())
        .withOptimizationLevel(level).withAllowSpinning(engine.allowSpinning())
        .withQ4AccuracyLevel(engine.q4AccuracyLevel());
  }

  /**
   * Readiness waits for every configured model: a pod that cannot generate takes no traffic. The
   * details say why a model failed to load (e.g. a missing file), so the operator need not dig in logs.
   */
  @Bean
  public HealthIndicator modelsHealthIndicator(ModelCatalog catalog) {
    return () -> {
      Health.Builder health = catalog.allReady() ? Health.up() : Health.outOfService();
      catalog.states().forEach((id, state) -> health.withDetail(id, state.name().toLowerCase(Locale.ROOT)
          + catalog.failure(id).map(reason -> ": " + reason).orElse("")));
      return health.build();
    };
  }

  @Bean
  public ResultWriter resultWriter(IFhirSystemDao<Bundle, Meta> systemDao, DaoRegistry daos,
      dev.medgemmafhir.operations.transparency.TransparencyRecords transparency) {
    return new ResultWriter(systemDao, daos, transparency);
  }

  @Bean
  public AiTaskRunner aiTaskRunner(ResultWriter writer, MeterRegistry meters) {
    return new AiTaskRunner(writer, meters);
  }

  @Bean(destroyMethod = "close")
  public AsyncJobs asyncJobs(DataSource dataSource, AiTaskRunner runner, FhirContext fhir, MedGemmaProperties properties) {
    MedGemmaProperties.Async async = properties.async();
    return new AsyncJobs(new AsyncJobStore(dataSource), runner, fhir,
        new AsyncJobs.Settings(async.workers(), async.heartbeat(), async.abandonedAfter(), async.retention()),
        Clock.systemUTC());
  }

  @Bean
  @Qualifier(FHIR_INTERCEPTOR)
  public AsyncKickoff asyncKickoff(AsyncJobs jobs,
      org.springframework.beans.factory.ObjectProvider<dev.medgemmafhir.interceptors.audit.AuditEventInterceptor> audit) {
    // A job's result or failure is audited when it ends, like the kick-off was.
    return new AsyncKickoff(jobs, (kickoff, status, result) -> audit.ifAvailable(a -> a.recordJobEnd(kickoff, status, result)));
  }

  /** Unknown, misspelt, repeated or mistyped parameters of the AI operations and of $verify are 400s. */
  @Bean
  @Qualifier(FHIR_INTERCEPTOR)
  public OperationParameters operationParameters(FhirContext fhir) {
    return new OperationParameters(fhir, SummarizeOperation.class, DraftReportOperation.class, AskOperation.class,
        dev.medgemmafhir.interceptors.review.ClinicianReviewProvider.class);
  }

  /** Once an AI operation streams ({@code Accept: text/event-stream}), HAPI writes no response of its own after it. */
  @Bean
  @Qualifier(FHIR_INTERCEPTOR)
  public dev.medgemmafhir.operations.run.EventStream eventStream() {
    return new dev.medgemmafhir.operations.run.EventStream();
  }

  /** The one flow of every AI operation: dry run, earlier draft, sync or async. */
  @Bean(destroyMethod = "close")
  public AiOperationFlow aiOperationFlow(AiTaskRunner runner, ResultWriter writer, AsyncKickoff async,
      MedGemmaProperties properties) {
    return new AiOperationFlow(runner, writer, async, properties.operations().streamHeartbeat());
  }

  @Bean
  @Qualifier(FHIR_PROVIDER)
  public AsyncStatusProvider asyncStatusProvider(AsyncJobs jobs, FhirContext fhir) {
    return new AsyncStatusProvider(jobs, fhir);
  }

  /**
   * The sections an encounter's context is read in ($summarize, Encounter/$ask): define a
   * {@code List<EncounterSection>} bean named {@code encounterSections} to add one or replace them.
   */
  @Bean
  @ConditionalOnMissingBean(name = "encounterSections")
  public List<EncounterSection> encounterSections() {
    return EncounterSections.defaults();
  }

  /** Replace this bean to change wholesale which facts a summary may draw on. */
  @Bean
  @ConditionalOnMissingBean
  public EncounterContextStrategy encounterContextStrategy(DaoRegistry daos,
      @Qualifier("encounterSections") List<EncounterSection> encounterSections) {
    return new JpaEncounterContext(daos, encounterSections);
  }

  @Bean
  @Qualifier(FHIR_PROVIDER)
  public SummarizeOperation summarizeOperation(EncounterContextStrategy strategy, ModelCatalog catalog,
      AiOperationFlow flow, MedGemmaProperties properties) {
    MedGemmaProperties.Operation config = properties.operations().summarize();
    Summarizer summarizer = new Summarizer(strategy, catalog,
        new Summarizer.Limits(config.defaultMaxTokens(), config.maxTokens()));
    return new SummarizeOperation(summarizer, flow);
  }

  /**
   * The sections a patient's record is read in for {@code $ask}: define a {@code List<RecordSection>} bean
   * to add one (a site's own note type) or replace them.
   */
  @Bean
  @ConditionalOnMissingBean(name = "recordSections")
  public List<RecordSection> recordSections() {
    return RecordSections.defaults();
  }

  @Bean
  @Qualifier(FHIR_PROVIDER)
  public AskOperation askOperation(DaoRegistry daos, @Qualifier("recordSections") List<RecordSection> recordSections,
      EncounterContextStrategy encounters, ModelCatalog catalog, AiOperationFlow flow, MedGemmaProperties properties,
      @Value("${medgemma.operations.ask.synonyms:}") String siteSynonyms) {
    MedGemmaProperties.Operation config = properties.operations().ask();
    ClinicalSynonyms synonyms = siteSynonyms.isBlank() ? ClinicalSynonyms.bundled()
        : ClinicalSynonyms.bundledPlus(Path.of(siteSynonyms));
    Asker asker = new Asker(new JpaPatientRecord(daos, recordSections), encounters, catalog,
        new Asker.Limits(config.defaultMaxTokens(), config.maxTokens()), new Relevance(synonyms));
    return new AskOperation(asker, flow);
  }

  /** The PACS client: {@code $draft-report} fetches images with it, the review app shows them through it. */
  @Bean
  public DicomWeb dicomWeb(MedGemmaProperties properties) {
    MedGemmaProperties.Dicomweb pacs = properties.operations().draftReport().dicomweb();
    return new DicomWeb(new DicomWeb.Settings(pacs.connectTimeout(), pacs.timeout(),
        pacs.maxImageSize().toBytes(), pacs.authorization(), pacs.allowedAddresses()));
  }

  /** Replace this bean to change which of a study's images $draft-report uses. */
  @Bean
  @ConditionalOnMissingBean
  public ImageChoice imageChoice(DaoRegistry daos, DicomWeb dicomWeb) {
    return new StudyImages(daos, dicomWeb);
  }

  @Bean
  @Qualifier(FHIR_PROVIDER)
  public DraftReportOperation draftReportOperation(DaoRegistry daos, ModelCatalog catalog, AiOperationFlow flow,
      MedGemmaProperties properties, DicomWeb dicomWeb, ImageChoice imageChoice) {
    MedGemmaProperties.DraftReport config = properties.operations().draftReport();
    DraftReporter reporter = new DraftReporter(daos, catalog, dicomWeb, imageChoice, new DraftReporter.Limits(
        config.defaultMaxTokens(), config.maxTokens(), config.defaultMaxImages(), config.maxImages(),
        config.maxImagesPerSeries()));
    return new DraftReportOperation(reporter, flow);
  }
}
