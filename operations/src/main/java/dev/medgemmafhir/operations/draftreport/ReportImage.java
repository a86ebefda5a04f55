package dev.medgemmafhir.operations.draftreport;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** An image a report is written from: a DICOM instance on the study's PACS, or a file attached to the request. */
public sealed interface ReportImage {

  /** How the prompt introduces the image (no pixel content). */
  String label();

  /** What identifies the image in the idempotency key. */
  String key();

  /**
   * One instance of the study on a DICOMweb server.
   *
   * @param address the WADO-RS base URL (no {@code /studies}, no trailing slash)
   * @param seriesRank the series' place in the study (reading order)
   * @param seriesLabel how the prompt names the series, e.g. {@code 2 (CT, Chest)}
   * @param position the instance's place in its series (0-based, by instance number)
   * @param seriesSize the number of instances in the series
   */
  record Dicom(String address, String studyUid, String seriesUid, String sopInstanceUid, Integer instanceNumber,
      int seriesRank, String seriesLabel, int position, int seriesSize) implements ReportImage {

    @Override
    public String label() {
      return "series " + seriesLabel + ", image " + (instanceNumber != null ? instanceNumber : position + 1)
          + " of " + seriesSize;
    }

    @Override
    public String key() {
      return "dicom:" + studyUid + "/" + seriesUid + "/" + sopInstanceUid;
    }
  }

  /**
   * A PNG or JPEG the request carried inline.
   *
   * @param index its place among the request's {@code image} parameters (1-based)
   */
  record Attached(int index, byte[] bytes, String mediaType, String title) implements ReportImage {

    @Override
    public String label() {
      return "attached image " + index + (title == null || title.isBlank() ? "" : " (" + title.strip() + ")");
    }

    @Override
    public String key() {
      return "attached:" + sha256();
    }

    String sha256() {
      try {
        return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }
}
