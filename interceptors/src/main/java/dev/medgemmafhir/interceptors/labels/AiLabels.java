package dev.medgemmafhir.interceptors.labels;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import org.hl7.fhir.instance.model.api.IBaseCoding;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.instance.model.api.IPrimitiveType;

/**
 * How this server recognises AI-written content (HL7 AI Transparency on FHIR): the
 * {@code meta.security} label AIAST and the AI-Provenance profile (codes in {@link AiVocabulary}).
 */
public final class AiLabels {

  private AiLabels() {}

  /** Whether the resource carries {@code meta.security} AIAST. */
  public static boolean isAiAsserted(IBaseResource resource) {
    if (resource == null) {
      return false;
    }
    for (IBaseCoding label : resource.getMeta().getSecurity()) {
      if (AiVocabulary.OBSERVATION_VALUE.equals(label.getSystem()) && AiVocabulary.AIAST.equals(label.getCode())) {
        return true;
      }
    }
    return false;
  }

  /** Whether the resource is a Provenance explaining AI output (AI-Provenance profile or AIAST label). */
  public static boolean isAiProvenance(IBaseResource resource) {
    if (resource == null || !"Provenance".equals(resourceType(resource))) {
      return false;
    }
    if (isAiAsserted(resource)) {
      return true;
    }
    for (IPrimitiveType<String> profile : resource.getMeta().getProfile()) {
      if (AiVocabulary.AI_PROVENANCE_PROFILE.equals(profile.getValue())) {
        return true;
      }
    }
    return false;
  }

  /** {@code Type/id} of a stored resource, for messages and logs (never its content). */
  public static String reference(IBaseResource resource) {
    String idPart = resource.getIdElement().getIdPart();
    return resourceType(resource) + "/" + (idPart == null ? "(new)" : idPart);
  }

  static String resourceType(IBaseResource resource) {
    return resource.fhirType();
  }
}
