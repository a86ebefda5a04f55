package dev.medgemmafhir.operations.context;

import dev.medgemmafhir.vocabulary.AiVocabulary;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Attachment;
import org.hl7.fhir.r4.model.CodeableConcept;
import org.hl7.fhir.r4.model.Coding;
import org.hl7.fhir.r4.model.DateTimeType;
import org.hl7.fhir.r4.model.Period;
import org.hl7.fhir.r4.model.Quantity;
import org.hl7.fhir.r4.model.Type;

/** How FHIR datatypes read in one line of a prompt: short, unambiguous, no markup. */
public final class FactText {

  /** Longest text taken from one note or report, so a single document cannot fill the context. */
  public static final int MAX_DOCUMENT_CHARS = 4000;

  private FactText() {}

  public static String versioned(IBaseResource resource) {
    var id = resource.getIdElement();
    String version = id.getVersionIdPart();
    return id.getResourceType() + "/" + id.getIdPart() + (version == null ? "" : "/_history/" + version);
  }

  /** The concept's text, else its first display, else its first code; null when empty. */
  public static String concept(CodeableConcept concept) {
    if (concept == null || concept.isEmpty()) {
      return null;
    }
    if (concept.hasText()) {
      return concept.getText();
    }
    for (Coding coding : concept.getCoding()) {
      if (coding.hasDisplay()) {
        return coding.getDisplay();
      }
    }
    return concept.getCodingFirstRep().getCode();
  }

  public static String concepts(List<CodeableConcept> concepts) {
    return String.join(", ", concepts.stream().map(FactText::concept).filter(s -> s != null).toList());
  }

  public static String date(Date date) {
    return date == null ? null : date.toInstant().atOffset(ZoneOffset.UTC).toLocalDate().toString();
  }

  public static Instant instant(Date date) {
    return date == null ? null : date.toInstant();
  }

  public static String period(Period period) {
    if (period == null || period.isEmpty()) {
      return null;
    }
    String start = date(period.getStart());
    String end = date(period.getEnd());
    if (end == null || end.equals(start)) {
      return start;
    }
    return start + " to " + end;
  }

  /** A choice of dateTime / Period as R4 uses for onset, effective and performed. */
  public static Instant when(Type value) {
    if (value instanceof DateTimeType dt) {
      return instant(dt.getValue());
    }
    if (value instanceof Period p) {
      return instant(p.getStart());
    }
    return null;
  }

  public static String quantity(Quantity q) {
    if (q == null || !q.hasValue()) {
      return null;
    }
    String unit = q.hasUnit() ? q.getUnit() : q.getCode();
    return q.getValue().stripTrailingZeros().toPlainString() + (unit == null ? "" : " " + unit);
  }

  /** An observation-style value[x] as text. */
  public static String value(Type value) {
    if (value == null || value.isEmpty()) {
      return null;
    }
    if (value instanceof Quantity q) {
      return quantity(q);
    }
    if (value instanceof CodeableConcept c) {
      return concept(c);
    }
    if (value.isPrimitive()) {
      return value.primitiveValue();
    }
    return null;
  }

  /** The decoded text of an inline text attachment (text/plain, text/markdown...), if any. */
  public static Optional<String> attachmentText(Attachment attachment) {
    if (attachment == null || !attachment.hasData()) {
      return Optional.empty();
    }
    String type = attachment.hasContentType() ? attachment.getContentType().toLowerCase(Locale.ROOT) : "";
    if (!type.startsWith("text/")) {
      return Optional.empty();
    }
    String text = new String(attachment.getData(), StandardCharsets.UTF_8).strip();
    if (text.isEmpty()) {
      return Optional.empty();
    }
    return Optional.of(truncate(text, MAX_DOCUMENT_CHARS));
  }

  public static String truncate(String text, int max) {
    return text.length() <= max ? text : text.substring(0, max) + " [...]";
  }

  /** Whole years between two dates, or -1 when either is unknown. */
  public static int ageInYears(Date birth, Date at) {
    if (birth == null) {
      return -1;
    }
    LocalDate born = birth.toInstant().atOffset(ZoneOffset.UTC).toLocalDate();
    LocalDate then = (at == null ? new Date() : at).toInstant().atOffset(ZoneOffset.UTC).toLocalDate();
    return java.time.Period.between(born, then).getYears();
  }

  /** A medication as named in an order or administration: its code's text, else the reference's display. */
  public static String medication(Type medication) {
    if (medication instanceof CodeableConcept c) {
      return or(concept(c), "unspecified medication");
    }
    if (medication instanceof org.hl7.fhir.r4.model.Reference r) {
      return or(r.getDisplay(), "medication " + r.getReference());
    }
    return "unspecified medication";
  }

  /** A dateTime or period as text; null for other types (an age, a string) and when absent. */
  public static String dateOf(Type value) {
    if (value instanceof DateTimeType dt) {
      return date(dt.getValue());
    }
    if (value instanceof Period p) {
      return period(p);
    }
    return null;
  }

  /** A status enum's FHIR code, e.g. {@code entered-in-error}. */
  public static String code(Enum<?> status) {
    if (status == null) {
      return "status unknown";
    }
    try {
      return (String) status.getClass().getMethod("toCode").invoke(status);
    } catch (ReflectiveOperationException e) {
      return status.name().toLowerCase(Locale.ROOT);
    }
  }

  /** {@code prefix + value}, or nothing when there is no value. */
  public static String prefixed(String prefix, String value) {
    return value == null || value.isBlank() ? "" : prefix + value;
  }

  public static String or(String value, String fallback) {
    return value == null || value.isBlank() ? fallback : value;
  }

  /** Entered in error or refuted: not a fact about the patient. */
  public static boolean refutedOrInError(CodeableConcept verification) {
    return verification.getCoding().stream().anyMatch(c -> "entered-in-error".equals(c.getCode())
        || "refuted".equals(c.getCode()));
  }

  /** Drafts this server wrote are not clinical input: summarising them would echo the model. */
  public static boolean isAiWritten(org.hl7.fhir.r4.model.Resource resource) {
    return resource.getMeta().getSecurity().stream().anyMatch(c -> AiVocabulary.OBSERVATION_VALUE.equals(c.getSystem())
        && AiVocabulary.AIAST.equals(c.getCode()));
  }
}
