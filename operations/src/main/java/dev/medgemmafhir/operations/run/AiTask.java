package dev.medgemmafhir.operations.run;

import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.model.LoadedModel;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;

/**
 * One AI operation after its inputs were read and validated: what to ask the model, and how to
 * turn the answer into FHIR resources. Built on the request thread; run now or later.
 */
public interface AiTask {

  /** The operation's name without {@code $}, e.g. {@code summarize}. */
  String operation();

  /** The resource the operation was invoked on, e.g. {@code Encounter/12}. */
  String target();

  LoadedModel model();

  /** What to ask the model; the first call may do slow input work (download images), so it is made where the task runs. */
  GenerationRequest request();

  /** The draft's identifier value: equal for a retry over unchanged inputs, model and parameters. */
  String idempotencyKey();

  /**
   * Whether {@link #idempotencyKey()} can only be known after slow input work (e.g. listing a study's
   * images on the PACS). An asynchronous kick-off then answers at once and the job itself answers with
   * an earlier identical draft, once its inputs are in.
   */
  default boolean keyAwaitsInputs() {
    return false;
  }

  /** The resource type of the draft, e.g. {@code DocumentReference}. */
  String draftType();

  /** Whether to write the result; when false the draft is returned unsaved and nothing is written. */
  boolean persist();

  /**
   * Earlier drafts the new one replaces (e.g. the unverified summaries of the same encounter and
   * kind): they are marked in the transaction that writes the new one. Empty when nothing is replaced.
   */
  default java.util.Optional<Supersedes> supersedes() {
    return java.util.Optional.empty();
  }

  /**
   * What a new draft replaces and how.
   *
   * @param resourceType the type searched
   * @param search the candidates (a FHIR search)
   * @param replaceable whether a found candidate is one to replace (e.g. still unverified, same study)
   * @param replace marks the old draft (changed in place, then stored guarded by its version) and
   *     lets the new one say what it replaces: {@code (old, fresh)}
   */
  record Supersedes(String resourceType, ca.uhn.fhir.jpa.searchparam.SearchParameterMap search,
      java.util.function.Predicate<Resource> replaceable,
      java.util.function.BiConsumer<Resource, Resource> replace) {}

  /**
   * What the model would be given, without running it ({@code dryRun}): each message's text, the
   * prompt's length and what was chosen and left out. Runs nothing slow (no image download).
   */
  org.hl7.fhir.r4.model.Parameters preview();

  /**
   * Whether a retry over unchanged inputs is answered with the draft already written (drafts: yes;
   * answers to questions are conversation, each asked anew).
   */
  default boolean reusesEarlierDraft() {
    return persist();
  }

  /** What the caller gets for the draft: the stored (or unsaved) resource itself, unless the operation answers otherwise. */
  default Resource reply(Resource draft) {
    return draft;
  }

  /**
   * Builds the draft and its Provenance from the model's answer.
   *
   * @param device the author: a transaction-local reference when persisting, else a logical one
   * @param draftReference how the Provenance points at the draft
   */
  Draft complete(GenerationResult generated, Reference device, Reference draftReference);

  /** The unsaved draft and the Provenance that explains it. */
  record Draft(Resource resource, Provenance provenance) {}
}
