package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import java.nio.charset.StandardCharsets;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Parameters;

/**
 * Whether an operation request asks to keep its result ({@code persist=true} in the query or the
 * Parameters body), which needs a create scope more. A body that cannot be read is answered by the
 * operation's own parameter check (400); here it counts as "persist", the stricter reading.
 */
final class PersistRequested {

  private PersistRequested() {}

  static boolean of(RequestDetails request) {
    String[] query = request.getParameters().get("persist");
    if (query != null) {
      for (String value : query) {
        if (!"false".equals(value)) {
          return true;
        }
      }
    }
    byte[] body = request.loadRequestContents();
    if (body == null || body.length == 0) {
      return false;
    }
    String text = new String(body, StandardCharsets.UTF_8);
    if (!text.contains("persist")) {
      return false;
    }
    try {
      FhirContext fhir = request.getFhirContext() != null ? request.getFhirContext() : FhirContext.forR4Cached();
      IBaseResource parsed = text.stripLeading().startsWith("<") ? fhir.newXmlParser().parseResource(text)
          : fhir.newJsonParser().parseResource(text);
      if (!(parsed instanceof Parameters parameters)) {
        return true;
      }
      return parameters.getParameter().stream().filter(p -> "persist".equals(p.getName()))
          .anyMatch(p -> p.getValue() == null || !"false".equals(p.getValue().primitiveValue()));
    } catch (RuntimeException unreadable) {
      return true;
    }
  }
}
