package dev.medgemmafhir.server.wiring;

import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.util.unit.DataSize;

/**
 * The models and the AI operations ({@code medgemma.*}). Every property is listed with its
 * default in the README.
 */
@ConfigurationProperties(prefix = "medgemma")
public record MedGemmaProperties(
    Engine engine,
    Map<String, Model> models,
    Operations operations,
    Async async) {

  public MedGemmaProperties {
    engine = engine == null ? new Engine(null, null, null, null, null, null) : engine;
    models = models == null ? Map.of() : new LinkedHashMap<>(models);
    operations = operations == null ? new Operations(null, null, null, null) : operations;
    async = async == null ? new Async(null, null, null, null) : async;
  }

  /**
   * How ONNX Runtime runs every model.
   *
   * @param executionProvider {@code cpu} or {@code cuda} (falls back to CPU with a warning)
   * @param intraOpThreads threads inside one operator; 0 = one per physical core
   * @param interOpThreads threads across operators; 0 = ONNX Runtime's default
   * @param optimizationLevel {@code all}, {@code extended}, {@code basic} or {@code none}
   * @param allowSpinning whether idle runtime threads spin between steps
   * @param q4AccuracyLevel -1 runs 4-bit weights as exported; 4 computes them with int8
   *     activations on CPU (about twice the decode speed, not token-identical to the reference)
   */
  public record Engine(String executionProvider, Integer intraOpThreads, Integer interOpThreads,
      String optimizationLevel, Boolean allowSpinning, Integer q4AccuracyLevel) {
    public Engine {
      q4AccuracyLevel = q4AccuracyLevel == null ? 4 : q4AccuracyLevel;
      executionProvider = executionProvider == null ? "cpu" : executionProvider;
      intraOpThreads = intraOpThreads == null ? 0 : intraOpThreads;
      interOpThreads = interOpThreads == null ? 0 : interOpThreads;
      optimizationLevel = optimizationLevel == null ? "all" : optimizationLevel;
      allowSpinning = allowSpinning == null || allowSpinning;
    }
  }

  /**
   * One model directory.
   *
   * @param path the directory (a Hugging Face-style snapshot of an ONNX export)
   * @param dtype the variant to load ({@code q4}, {@code fp32}, ...); empty = the best one present
   * @param displayName how the model's Device is named, e.g. "MedGemma 4B IT, ONNX q4"
   * @param concurrency generations running at once on this model, decoded as one batch; null = {@link #DEFAULT_CONCURRENCY}
   * @param maxQueue synchronous requests allowed to wait for a slot before a 429
   * @param kvCacheBudget bytes the batch's KV cache may take; null = half the JVM's direct-memory limit
   * @param prefillChunk prompt tokens per prefill run; null or 0 = the engine's default (512 when concurrency > 1)
   */
  public record Model(Path path, String dtype, String displayName, Integer concurrency, Integer maxQueue, DataSize kvCacheBudget,
      Integer prefillChunk) {
    /**
     * Two at a time: with bursts of {@code $summarize} callers on 2 CPU cores, two decoded together brought the median
     * answer 15-17 % forward and did 15-17 % more work than one at a time, on two machines (onnx-models/BENCHMARKS.md,
     * "Scheduling prompts and steps"); a lone request runs as before, and a second waits when the KV budget has no room.
     */
    public static final int DEFAULT_CONCURRENCY = 2;

    public Model {
      concurrency = concurrency == null ? DEFAULT_CONCURRENCY : concurrency;
      maxQueue = maxQueue == null ? 4 : maxQueue;
    }
  }

  /**
   * @param streamHeartbeat how often a streamed operation ({@code Accept: text/event-stream}) with no new
   *     text sends an SSE comment ({@code : keepalive}); a failed write cancels it
   */
  public record Operations(Operation summarize, DraftReport draftReport, Operation ask, Duration streamHeartbeat) {
    public Operations {
      streamHeartbeat = streamHeartbeat == null
          ? dev.medgemmafhir.operations.run.AiOperationFlow.DEFAULT_STREAM_HEARTBEAT : streamHeartbeat;
      summarize = summarize == null ? new Operation(null, null, null) : summarize;
      ask = ask == null ? new Operation(null, null, null) : ask;
      draftReport = draftReport == null ? new DraftReport(null, null, null, null, null, null, null) : draftReport;
    }
  }

  /**
   * {@code $draft-report}: the model and token limits as for every operation, plus images.
   *
   * @param defaultMaxImages images the model gets when the request gives no maxImages
   * @param maxImages the largest maxImages honoured (the model's context may allow fewer)
   * @param maxImagesPerSeries instances taken from one series (spread over it, middle first)
   * @param dicomweb how the server calls the studies' PACS
   */
  public record DraftReport(String model, Integer defaultMaxTokens, Integer maxTokens, Integer defaultMaxImages,
      Integer maxImages, Integer maxImagesPerSeries, Dicomweb dicomweb) {
    public DraftReport {
      defaultMaxTokens = defaultMaxTokens == null ? 512 : defaultMaxTokens;
      maxTokens = maxTokens == null ? 2048 : maxTokens;
      defaultMaxImages = defaultMaxImages == null ? 4 : defaultMaxImages;
      maxImages = maxImages == null ? 16 : maxImages;
      maxImagesPerSeries = maxImagesPerSeries == null ? 3 : maxImagesPerSeries;
      dicomweb = dicomweb == null ? new Dicomweb(null, null, null, null, null) : dicomweb;
    }
  }

  /**
   * @param connectTimeout time to open a connection to the PACS
   * @param timeout time for one PACS request, body included
   * @param maxImageSize largest rendered image accepted from the PACS
   * @param authorization {@code Authorization} header value sent to the PACS (e.g. {@code Bearer ...}); needs
   *     allowedAddresses
   * @param allowedAddresses Endpoint addresses (URL prefixes) the server may call; empty = none
   */
  public record Dicomweb(Duration connectTimeout, Duration timeout, DataSize maxImageSize, String authorization,
      List<String> allowedAddresses) {
    public Dicomweb {
      connectTimeout = connectTimeout == null ? Duration.ofSeconds(5) : connectTimeout;
      timeout = timeout == null ? Duration.ofSeconds(30) : timeout;
      maxImageSize = maxImageSize == null ? DataSize.ofMegabytes(32) : maxImageSize;
      authorization = authorization == null ? "" : authorization;
      allowedAddresses = allowedAddresses == null ? List.of() : List.copyOf(allowedAddresses);
    }
  }

  /**
   * @param model the model id an operation uses when the request names none
   * @param defaultMaxTokens tokens the model may write when the request gives no maxTokens
   * @param maxTokens the largest maxTokens honoured
   */
  public record Operation(String model, Integer defaultMaxTokens, Integer maxTokens) {
    public Operation {
      defaultMaxTokens = defaultMaxTokens == null ? 512 : defaultMaxTokens;
      maxTokens = maxTokens == null ? 2048 : maxTokens;
    }
  }

  /**
   * @param workers asynchronous jobs running at once on one server (they still queue per model)
   * @param heartbeat how often a server marks its jobs alive and looks for cancellations
   * @param abandonedAfter a job without heartbeat for this long is marked failed
   * @param retention ended jobs are forgotten after this
   */
  public record Async(Integer workers, Duration heartbeat, Duration abandonedAfter, Duration retention) {
    public Async {
      workers = workers == null ? 4 : workers;
      heartbeat = heartbeat == null ? Duration.ofSeconds(5) : heartbeat;
      abandonedAfter = abandonedAfter == null ? Duration.ofSeconds(60) : abandonedAfter;
      retention = retention == null ? Duration.ofHours(24) : retention;
    }
  }
}
