package dev.medgemmafhir.operations.run;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import ca.uhn.fhir.jpa.api.dao.DaoRegistry;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.searchparam.SearchParameterMap;
import ca.uhn.fhir.rest.api.server.SystemRequestDetails;
import ca.uhn.fhir.rest.param.TokenParam;
import dev.medgemmafhir.operations.AiTransparency;
import dev.medgemmafhir.engine.GenerationRequest;
import dev.medgemmafhir.engine.GenerationResult;
import dev.medgemmafhir.operations.model.LoadedModel;
import dev.medgemmafhir.operations.transparency.TransparencyRecords;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DocumentReference;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.Meta;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;

/**
 * Writes an AI draft in ONE FHIR transaction: the model's Device (created once, found again by
 * its identifier), the draft (created once per idempotency key) and its Provenance. If any part
 * fails, nothing is written.
 */
public final class ResultWriter {

  private final IFhirSystemDao<Bundle, Meta> systemDao;
  private final DaoRegistry daos;
  private final TransparencyRecords transparency;

  public ResultWriter(IFhirSystemDao<Bundle, Meta> systemDao, DaoRegistry daos) {
    this(systemDao, daos, new TransparencyRecords(TransparencyRecords.STORE_PROMPTS_DEFAULT));
  }

  public ResultWriter(IFhirSystemDao<Bundle, Meta> systemDao, DaoRegistry daos, TransparencyRecords transparency) {
    this.systemDao = systemDao;
    this.daos = daos;
    this.transparency = transparency;
  }

  private void supersede(AiTask.Draft draft, Bundle tx, Optional<AiTask.Supersedes> supersedes, String key) {
    if (supersedes.isEmpty()) {
      return;
    }
    AiTask.Supersedes rule = supersedes.get();
    for (IBaseResource found : daos.getResourceDao(rule.resourceType()).search(rule.search(),
        new SystemRequestDetails()).getResources(0, 100)) {
      Resource old = (Resource) found;
      boolean sameDraft = identifiers(old).contains(key);
      if (sameDraft || !rule.replaceable().test(old)) {
        continue;
      }
      String id = rule.resourceType() + "/" + old.getIdElement().getIdPart();
      String version = old.getMeta().getVersionId();
      rule.replace().accept(old, draft.resource());
      tx.addEntry().setFullUrl(id).setResource(old).getRequest().setMethod(Bundle.HTTPVerb.PUT).setUrl(id)
          .setIfMatch("W/\"" + version + "\"");
    }
  }

  private static List<String> identifiers(Resource resource) {
    if (resource instanceof DocumentReference d) {
      return d.getIdentifier().stream().map(i -> i.getValue()).toList();
    }
    if (resource instanceof org.hl7.fhir.r4.model.DiagnosticReport r) {
      return r.getIdentifier().stream().map(i -> i.getValue()).toList();
    }
    return List.of();
  }

  /** The draft an earlier identical request wrote, if any. */
  public Optional<Resource> findDraft(String type, String idempotencyKey) {
    SearchParameterMap byKey = SearchParameterMap.newSynchronous()
        .add("identifier", new TokenParam(AiVocabulary.DRAFT_IDENTIFIER_SYSTEM, idempotencyKey));
    List<IBaseResource> found = daos.getResourceDao(type).search(byKey, new SystemRequestDetails()).getResources(0, 1);
    return found.stream().map(Resource.class::cast).findFirst();
  }

  /** References the task should use when building a draft that this writer will persist. */
  public record Placeholders(Reference device, Reference draft) {
    public static Placeholders fresh() {
      return new Placeholders(new Reference("urn:uuid:" + UUID.randomUUID()), new Reference("urn:uuid:" + UUID.randomUUID()));
    }
  }

  /** Writes the Device (if new), the draft and its Provenance; returns the stored draft. */
  public Resource write(LoadedModel model, AiTask.Draft draft, Placeholders placeholders, String idempotencyKey) {
    return write(model, draft, placeholders, idempotencyKey, Optional.empty());
  }

  /**
   * As {@link #write(LoadedModel, AiTask.Draft, Placeholders, String)}; unverified drafts found by
   * {@code supersedes} are marked superseded in the same transaction (guarded by their version),
   * and the new draft says it replaces them.
   */
  public Resource write(LoadedModel model, AiTask.Draft draft, Placeholders placeholders, String idempotencyKey,
      Optional<AiTask.Supersedes> supersedes) {
    return write(model, draft, placeholders, idempotencyKey, supersedes, null, null);
  }

  /**
   * As above; {@code request} is the exact prompt and {@code generated} what the model answered,
   * stored with the draft (AI Transparency: AIInputPrompt) so that it can be replayed.
   */
  public Resource write(LoadedModel model, AiTask.Draft draft, Placeholders placeholders, String idempotencyKey,
      Optional<AiTask.Supersedes> supersedes, GenerationRequest request, GenerationResult generated) {
    Bundle tx = new Bundle().setType(Bundle.BundleType.TRANSACTION);
    tx.addEntry().setFullUrl(placeholders.device().getReference()).setResource(model.device())
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Device")
        .setIfNoneExist(model.deviceMatchUrl().substring("Device?".length()));
    String type = draft.resource().fhirType();
    tx.addEntry().setFullUrl(placeholders.draft().getReference()).setResource(draft.resource())
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl(type)
        .setIfNoneExist("identifier=" + AiVocabulary.DRAFT_IDENTIFIER_SYSTEM + "|" + idempotencyKey);
    tx.addEntry().setFullUrl("urn:uuid:" + UUID.randomUUID()).setResource(draft.provenance())
        .getRequest().setMethod(Bundle.HTTPVerb.POST).setUrl("Provenance");
    supersede(draft, tx, supersedes, idempotencyKey);
    transparency.addTo(tx, model, draft.resource(), draft.provenance(), request, generated, idempotencyKey);

    Bundle response = systemDao.transaction(new SystemRequestDetails(), tx);
    IdType location = new IdType(response.getEntry().get(1).getResponse().getLocation());
    return (Resource) daos.getResourceDao(type).read(location, new SystemRequestDetails());
  }
}
