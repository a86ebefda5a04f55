package dev.medgemmafhir.operations.draftreport;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import org.hl7.fhir.r4.model.ImagingStudy;
import org.junit.jupiter.api.Test;

class ImageChoiceTest {

  @Test
  void oneImageOfASeriesIsItsMiddle() {
    assertThat(StudyImages.spreadMiddleFirst(1, 1)).containsExactly(0);
    assertThat(StudyImages.spreadMiddleFirst(9, 1)).containsExactly(4);
    assertThat(StudyImages.spreadMiddleFirst(10, 1)).containsExactly(5);
  }

  @Test
  void severalImagesAreSpreadOverTheSeriesMiddleFirst() {
    assertThat(StudyImages.spreadMiddleFirst(101, 3)).containsExactly(50, 25, 75);
    assertThat(StudyImages.spreadMiddleFirst(5, 3)).containsExactly(2, 1, 3);
  }

  @Test
  void aShortSeriesGivesAllItsImagesMiddleFirst() {
    assertThat(StudyImages.spreadMiddleFirst(4, 8)).containsExactly(1, 2, 0, 3);
    assertThat(StudyImages.spreadMiddleFirst(0, 3)).isEmpty();
  }

  @Test
  void endpointAddressesAreBaseUrlsWithoutStudiesOrTrailingSlash() {
    assertThat(StudyImages.normalise(" http://pacs/dicom-web/ ")).isEqualTo("http://pacs/dicom-web");
    assertThat(StudyImages.normalise("http://pacs/dicom-web/studies/")).isEqualTo("http://pacs/dicom-web");
    assertThat(StudyImages.normalise("http://pacs/wado")).isEqualTo("http://pacs/wado");
  }

  @Test
  void theStudyUidComesFromTheDicomUidIdentifierWithoutItsPrefixElseFromAUriOidAsSyntheaWritesIt() {
    ImagingStudy study = new ImagingStudy();
    study.addIdentifier().setSystem("http://hospital.example/accession").setValue("A123");
    study.addIdentifier().setSystem("urn:ietf:rfc:3986").setValue("urn:uuid:0f0e");
    assertThat(StudyImages.studyUid(study)).isEmpty();
    // Synthea writes {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.840..."}.
    study.addIdentifier().setSystem("urn:ietf:rfc:3986").setValue("urn:oid:9.9");
    assertThat(StudyImages.studyUid(study)).contains("9.9");
    // The DICOM UID system wins wherever it is listed.
    study.addIdentifier().setSystem("urn:dicom:uid").setValue("urn:oid:1.2.840.1");
    assertThat(StudyImages.studyUid(study)).contains("1.2.840.1");
  }

  @Test
  void onlyPngAndJpegSignaturesAreImages() {
    assertThat(ImageFormat.sniff(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0})).contains("image/png");
    assertThat(ImageFormat.sniff(new byte[] {(byte) 0xff, (byte) 0xd8, (byte) 0xff, (byte) 0xe0})).contains("image/jpeg");
    assertThat(ImageFormat.sniff("GIF89a....".getBytes(StandardCharsets.US_ASCII))).isEmpty();
    assertThat(ImageFormat.sniff("<html>".getBytes(StandardCharsets.US_ASCII))).isEmpty();
    assertThat(ImageFormat.sniff(new byte[0])).isEmpty();
  }
}
