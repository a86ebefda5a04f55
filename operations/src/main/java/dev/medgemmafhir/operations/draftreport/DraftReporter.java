package dev.medgemmafhir.operations.draftreport;

import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import dev.medgemmafhir.engine.ChatMessage;
import dev.medgemmafhir.engine.ContentPart;
import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.engine.GenerationParams;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.InvalidInputException;
import dev.medgemmafhir.operations.OperationErrors;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.model.ModelCatalog;
import dev.medgemmafhir.operations.run.IdempotencyKey;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.IdType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Prepares {@code $draft-report} in two steps. {@link #plan} validates the request, reads the study,
 * chooses the images and fits them into the model's context, and derives the idempotency key, all
 * without downloading pixels; {@link #fetch} then downloads the chosen images from the PACS. In
 * between, the operation can answer a retry with the draft already written. When choosing the images
 * means asking the PACS (the study does not list its instances), the choice is made on first use, so
 * an asynchronous kick-off leaves it, and the search for an earlier draft, to the job.
 */
public final class DraftReporter {

  private static final Logger log = LoggerFactory.getLogger(DraftReporter.class);

  /**
   * Limits from configuration.
   *
   * @param defaultMaxImages images used when the request gives no {@code maxImages}
   * @param maxImagesCap the largest {@code maxImages} honoured
   * @param maxImagesPerSeries instances taken from one series
   */
  public record Limits(int defaultMaxTokens, int maxTokensCap, int defaultMaxImages, int maxImagesCap,
      int maxImagesPerSeries) {
    public Limits {
      if (defaultMaxTokens < 1 || maxTokensCap < defaultMaxTokens) {
        throw new IllegalArgumentException("draft-report: default-max-tokens must be >= 1 and <= max-tokens");
      }
      if (defaultMaxImages < 1 || maxImagesCap < defaultMaxImages || maxImagesPerSeries < 1) {
        throw new IllegalArgumentException(
            "draft-report: default-max-images must be >= 1 and <= max-images, max-images-per-series >= 1");
      }
    }
  }

  /**
   * A checked request whose images are chosen (or, when choosing asks the PACS, will be chosen where
   * the task runs) but not yet downloaded.
   *
   * @param indicationSource where the indication came from: {@code request}, {@code study} (its own reasons),
   *     {@code order} (its orders' reasons, code and notes) or {@code none}
   */
  public record Plan(LoadedModel model, StudyContext context, String studyLine, String indication,
      String indicationSource, int maxTokens, boolean persist, Choosing choosing) {

    public String target() {
      return context.target();
    }

    /** The images in the order the model gets them. */
    public List<ReportImage> images() {
      return choosing.chosen().images();
    }

    /** Images that were available but over {@code maxImages} or the context. */
    public int imagesOmitted() {
      return choosing.chosen().omitted();
    }

    public String idempotencyKey() {
      return choosing.chosen().idempotencyKey();
    }
  }

  /** The chosen images and the key they make. */
  record Chosen(List<ReportImage> images, int omitted, String idempotencyKey) {}

  /** The image choice, made once, on first use; {@link #asksPacs} tells whether making it means a PACS request. */
  public static final class Choosing {
    private final java.util.function.Supplier<Chosen> choose;
    private final boolean asksPacs;
    private Chosen chosen;

    Choosing(java.util.function.Supplier<Chosen> choose, boolean asksPacs) {
      this.choose = choose;
      this.asksPacs = asksPacs;
    }

    synchronized Chosen chosen() {
      if (chosen == null) {
        chosen = choose.get();
      }
      return chosen;
    }

    /** Whether the choice is still to be made and will ask the PACS. */
    public synchronized boolean asksPacs() {
      return chosen == null && asksPacs;
    }
  }

  private final DaoRegistry daos;
  private final ModelCatalog models;
  private final DicomWeb dicomWeb;
  private final ImageChoice imageChoice;
  private final Limits limits;

  public DraftReporter(DaoRegistry daos, ModelCatalog models, DicomWeb dicomWeb, ImageChoice imageChoice,
      Limits limits) {
    this.daos = daos;
    this.imageChoice = imageChoice;
    this.models = models;
    this.dicomWeb = dicomWeb;
    this.limits = limits;
  }

  public Plan plan(IdType studyId, Boolean persist, Integer maxTokens, String modelId, String indication,
      List<Attachment> attachments, Integer maxImages, RequestDetails request) {
    if (maxTokens != null && maxTokens < 1) {
      throw new InvalidRequestException("maxTokens must be at least 1, was " + maxTokens);
    }
    if (maxImages != null && maxImages < 1) {
      throw new InvalidRequestException("maxImages must be at least 1, was " + maxImages);
    }
    int tokens = Math.min(maxTokens == null ? limits.defaultMaxTokens() : maxTokens, limits.maxTokensCap());
    int imageLimit = Math.min(maxImages == null ? limits.defaultMaxImages() : maxImages, limits.maxImagesCap());
    List<ReportImage.Attached> attached = attached(attachments);
    LoadedModel model = models.require(
        modelId == null || modelId.isBlank() ? models.defaultModelFor("draft-report") : modelId);
    requireImageModel(model);

    StudyContext context = StudyContext.read(daos, studyId, request);
    boolean given = indication != null && !indication.isBlank();
    String derived = given ? indication.strip() : context.derivedIndication();
    String indicationText = derived.isBlank() ? "not given" : derived;
    String indicationSource = given ? "request" : context.indicationSource();
    String studyLine = context.studyLine();

    // Attached images replace the PACS: a non-DICOM workflow sends what it has.
    boolean asksPacs = attached.isEmpty() && imageChoice.asksPacs(context.study(), request);
    Choosing choosing = new Choosing(() -> choose(model, context, indicationText, attached, imageLimit, tokens,
        request), asksPacs);
    return new Plan(model, context, studyLine, indicationText, indicationSource, tokens, persist == null || persist,
        choosing);
  }

  /** Chooses the images (asking the PACS when the study does not list them), fits them and derives the key. */
  private Chosen choose(LoadedModel model, StudyContext context, String indicationText,
      List<ReportImage.Attached> attached, int imageLimit, int tokens, RequestDetails request) {
    List<ReportImage> candidates = new ArrayList<>();
    int omitted = 0;
    if (!attached.isEmpty()) {
      candidates.addAll(attached.subList(0, Math.min(imageLimit, attached.size())));
      omitted = attached.size() - candidates.size();
    } else {
      ImageChoice.Choice choice = imageChoice.choose(context.study(), limits.maxImagesPerSeries(),
          imageLimit, request);
      candidates.addAll(choice.images());
      omitted = choice.cutByLimit();
    }
    String studyLine = context.studyLine();
    int fitting = fit(model.engine(), studyLine, indicationText, candidates, tokens);
    omitted += candidates.size() - fitting;
    List<ReportImage> chosen = inReadingOrder(candidates.subList(0, fitting));

    List<String> parameters = new ArrayList<>();
    parameters.add("maxTokens=" + tokens);
    parameters.add("indication=" + indicationText);
    chosen.forEach(i -> parameters.add("image=" + i.key()));
    String key = IdempotencyKey.of("draft-report", ReportPrompt.VERSION, parameters,
        model.deviceIdentifier().getValue(), context.inputs());
    log.debug("draft-report plan for {}: {} images ({} left out), model {}", context.target(), chosen.size(), omitted,
        model.id());
    return new Chosen(chosen, omitted, key);
  }

  /** The task for a plan; its images are downloaded when it runs (after an async kick-off answered). */
  public DraftReportTask task(Plan plan) {
    return new DraftReportTask(plan, () -> fetch(plan));
  }

  /** The images the model got (those the PACS had), their request, and how many planned ones the PACS lacked. */
  record Fetched(GenerationRequest request, List<ReportImage> images, int missing) {}

  /**
   * Downloads the planned DICOM images; attached ones are already here. An instance the PACS does
   * not have (404) is left out and counted; when it has none of them, the PACS failed (502).
   */
  private Fetched fetch(Plan plan) {
    long start = System.nanoTime();
    List<ContentPart> pixels = new ArrayList<>();
    List<ReportImage> used = new ArrayList<>();
    DicomWeb.InstanceMissing lastMissing = null;
    int fromPacs = 0;
    for (ReportImage image : plan.images()) {
      if (image instanceof ReportImage.Dicom dicom) {
        try {
          pixels.add(new ContentPart.Image(dicomWeb.rendered(dicom.address(), dicom.studyUid(), dicom.seriesUid(),
              dicom.sopInstanceUid()).bytes()));
          used.add(image);
          fromPacs++;
        } catch (DicomWeb.InstanceMissing missing) {
          lastMissing = missing;
        }
      } else if (image instanceof ReportImage.Attached file) {
        pixels.add(new ContentPart.Image(file.bytes()));
        used.add(image);
      }
    }
    if (used.isEmpty() && lastMissing != null) {
      throw new OperationErrors.UpstreamFailed("The PACS has none of the " + plan.images().size() + " planned images of "
          + plan.target() + "; last: " + lastMissing.getMessage());
    }
    int missing = plan.images().size() - used.size();
    if (missing > 0) {
      log.warn("draft-report for {}: {} of {} instances missing on the PACS, drafting from the others", plan.target(),
          missing, plan.images().size());
    }
    if (fromPacs > 0) {
      log.info("draft-report fetched {} images for {} from the PACS in {} ms", fromPacs, plan.target(),
          (System.nanoTime() - start) / 1_000_000);
    }
    var iterator = pixels.iterator();
    List<ChatMessage> messages = ReportPrompt.render(plan.studyLine(), plan.indication(), used,
        image -> iterator.next());
    return new Fetched(new GenerationRequest(messages, GenerationParams.greedy(plan.maxTokens())), used, missing);
  }

  /** Inline images must be PNG or JPEG data; anything else is the caller's mistake (400). */
  private static List<ReportImage.Attached> attached(List<Attachment> attachments) {
    List<ReportImage.Attached> images = new ArrayList<>();
    if (attachments == null) {
      return images;
    }
    for (Attachment attachment : attachments) {
      int index = images.size() + 1;
      if (!attachment.hasData()) {
        throw new InvalidRequestException("image " + index + " has no inline data: only inline PNG or JPEG"
            + " attachments ('data') are supported" + (attachment.hasUrl() ? ", not 'url'" : ""));
      }
      byte[] bytes = attachment.getData();
      Optional<String> format = ImageFormat.sniff(bytes);
      if (format.isEmpty()) {
        throw new InvalidRequestException("image " + index + " is not a PNG or JPEG file (" + bytes.length + " bytes"
            + (attachment.hasContentType() ? ", contentType " + attachment.getContentType() : "") + ")");
      }
      if (attachment.hasContentType()) {
        String declared = attachment.getContentType().split(";")[0].strip().toLowerCase(Locale.ROOT);
        String expected = format.get();
        if (!declared.equals(expected) && !(expected.equals(ImageFormat.JPEG) && declared.equals("image/jpg"))) {
          throw new InvalidRequestException("image " + index + " declares contentType " + attachment.getContentType()
              + " but its data is " + expected);
        }
      }
      images.add(new ReportImage.Attached(index, bytes, format.get(),
          attachment.hasTitle() ? attachment.getTitle() : null));
    }
    return images;
  }

  /** A text-only model cannot read images: say so before any work is done. */
  private static void requireImageModel(LoadedModel model) {
    GenerationRequest probe = new GenerationRequest(
        List.of(ChatMessage.user(new ContentPart.Image(new byte[0]))), GenerationParams.greedy(1));
    try {
      model.engine().countPromptTokens(probe);
    } catch (InvalidInputException e) {
      throw new InvalidRequestException("Model '" + model.id() + "' takes no images, so it cannot draft a report from"
          + " a study; name an image-text model (parameter 'model' or medgemma.operations.draft-report.model)");
    }
  }

  /**
   * How many of {@code candidates} (a prefix: most wanted first) fit in the context together with the
   * instructions and room for {@code maxTokens} of answer, measured with the model's own tokenizer.
   */
  private static int fit(Engine engine, String studyLine, String indication, List<ReportImage> candidates,
      int maxTokens) {
    int budget = engine.contextLength() - maxTokens;
    GenerationParams params = GenerationParams.greedy(maxTokens);
    for (int n = candidates.size(); n >= 1; n--) {
      List<ChatMessage> messages = ReportPrompt.render(studyLine, indication, candidates.subList(0, n),
          ReportPrompt::placeholder);
      if (engine.countPromptTokens(new GenerationRequest(messages, params)) <= budget) {
        return n;
      }
    }
    throw new InvalidRequestException("maxTokens " + maxTokens + " leaves no room for the instructions, the"
        + " indication and one image in the model's context of " + engine.contextLength() + " tokens");
  }

  /** The model reads the images as a radiologist would: series by series, each from the first image on. */
  private static List<ReportImage> inReadingOrder(List<ReportImage> images) {
    List<ReportImage> ordered = new ArrayList<>(images);
    ordered.sort((a, b) -> {
      if (a instanceof ReportImage.Dicom x && b instanceof ReportImage.Dicom y) {
        return x.seriesRank() != y.seriesRank() ? Integer.compare(x.seriesRank(), y.seriesRank())
            : Integer.compare(x.position(), y.position());
      }
      return 0;
    });
    return ordered;
  }
}
