package dev.medgemmafhir.engine;

import java.util.Objects;

/** A part of a {@link ChatMessage}: text, or an encoded image. */
public sealed interface ContentPart {

    /** Plain text. */
    record Text(String text) implements ContentPart {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /**
     * An image as its encoded file bytes (PNG or JPEG, 8 or 16 bit, grayscale or colour), as a
     * FHIR Attachment or a DICOMweb rendered response carries it.
     */
    record Image(byte[] encoded) implements ContentPart {
        public Image {
            Objects.requireNonNull(encoded, "encoded");
        }
    }
}
