package dev.medgemmafhir.operations.run;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import dev.medgemmafhir.operations.AiTransparency;
import java.util.Date;
import java.util.List;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.Provenance;
import org.hl7.fhir.r4.model.Reference;

/** The AI Provenance of a draft (AI Transparency on FHIR): who wrote it and from what. */
public final class AiProvenance {

  private AiProvenance() {}

  /**
   * @param draft the new resource (a transaction-local reference when it is written with it)
   * @param device the model's Device
   * @param inputs versioned references of every resource the model was given
   */
  public static Provenance of(Reference draft, Reference device, List<String> inputs, Date recorded) {
    Provenance provenance = new Provenance();
    provenance.getMeta().addProfile(AiVocabulary.AI_PROVENANCE_PROFILE);
    provenance.getMeta().addSecurity(AiTransparency.aiast());
    provenance.addTarget(draft.copy());
    provenance.setRecorded(recorded);
    provenance.addReason(new CodeableConcept().addCoding(AiTransparency.aiast()));
    provenance.setActivity(new CodeableConcept().addCoding(
        new Coding("http://terminology.hl7.org/CodeSystem/v3-DataOperation", "CREATE", "create")));
    provenance.addAgent()
        .setType(new CodeableConcept().addCoding(new Coding(AiVocabulary.PARTICIPANT_TYPE, "author", "Author")))
        // AI-Provenance's AIagent slice: the role says the agent is an AI.
        .addRole(new CodeableConcept().addCoding(AiTransparency.aiDeviceType(AiVocabulary.AI_DEVICE_TYPE)))
        .setWho(device.copy());
    for (String input : inputs) {
      provenance.addEntity().setRole(Provenance.ProvenanceEntityRole.SOURCE).setWhat(new Reference(input));
    }
    return provenance;
  }
}
