package dev.medgemmafhir.operations.draftreport;

import static org.assertj.core.api.Assertions.assertThat;

import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

class StudyUidTest {

  static ImagingStudy identified(String system, String value) {
    ImagingStudy study = new ImagingStudy();
    study.addIdentifier().setSystem(system).setValue(value);
    return study;
  }

  @Test
  void theDicomUidSystemAndSyntheasUriSystemWithAnOidValueBothGiveTheStudyUid() {
    assertThat(StudyImages.studyUid(identified("urn:dicom:uid", "urn:oid:1.2.3"))).contains("1.2.3");
    // Synthea writes {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.840..."}.
    assertThat(StudyImages.studyUid(identified("urn:ietf:rfc:3986", "urn:oid:1.2.840.99"))).contains("1.2.840.99");
    // Another URI is not a DICOM UID.
    assertThat(StudyImages.studyUid(identified("urn:ietf:rfc:3986", "urn:uuid:0f0e"))).isEmpty();
    assertThat(StudyImages.studyUid(identified("http://hospital.example/accession", "A123"))).isEmpty();
  }
}
