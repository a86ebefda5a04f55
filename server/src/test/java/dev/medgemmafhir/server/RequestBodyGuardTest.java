package dev.medgemmafhir.server;

import static org.assertj.core.api.Assertions.assertThat;

import ca.uhn.fhir.context.FhirContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Patient;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;

/**
 * Request bodies over real HTTP: larger than {@code medgemma.fhir.max-request-size} is a 413
 * OperationOutcome whether the size is declared or the body is streamed in chunks, and a body that
 * is not valid UTF-8 is a 400 instead of being stored with replacement characters.
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = {
      "spring.datasource.url=jdbc:h2:mem:request-body;DB_CLOSE_DELAY=-1",
      "medgemma.fhir.max-request-size=64KB"
    })
class RequestBodyGuardTest {

  static final FhirContext FHIR = FhirContext.forR4Cached();
  final HttpClient http = HttpClient.newHttpClient();

  @LocalServerPort int port;

  @Test
  void aBodyOverTheLimitIs413WhetherItsSizeIsDeclaredOrStreamed() throws Exception {
    String family = "Big" + UUID.randomUUID();
    byte[] big = patient(family, "x".repeat(100 * 1024)).getBytes(StandardCharsets.UTF_8);

    HttpResponse<String> declared = post(HttpRequest.BodyPublishers.ofByteArray(big), "application/fhir+json");
    assertTooLarge(declared);
    // No Content-Length: sent chunked, refused once 64 KB have been read.
    HttpResponse<String> streamed = post(
        HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(big)), "application/fhir+json");
    assertTooLarge(streamed);
    assertThat(count(family)).isZero();

    String small = patient(family, "ok");
    assertThat(post(HttpRequest.BodyPublishers.ofInputStream(
        () -> new ByteArrayInputStream(small.getBytes(StandardCharsets.UTF_8))), "application/fhir+json").statusCode())
        .isEqualTo(201);
    assertThat(count(family)).isEqualTo(1);
  }

  @Test
  void aBodyThatIsNotValidUtf8Is400AndNothingIsStored() throws Exception {
    String family = "Utf" + UUID.randomUUID();
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    String json = patient(family, "@");
    int at = json.indexOf('@');
    bytes.write(json.substring(0, at).getBytes(StandardCharsets.UTF_8));
    bytes.write(new byte[] {(byte) 0xC3, (byte) 0x28, (byte) 0xFF}); // a broken two-byte sequence, a byte UTF-8 never uses
    bytes.write(json.substring(at + 1).getBytes(StandardCharsets.UTF_8));

    HttpResponse<String> response = post(HttpRequest.BodyPublishers.ofByteArray(bytes.toByteArray()),
        "application/fhir+json; charset=UTF-8");
    assertThat(response.statusCode()).as(response.body()).isEqualTo(400);
    assertThat(FHIR.newJsonParser().parseResource(OperationOutcome.class, response.body())
        .getIssueFirstRep().getDiagnostics()).contains("UTF-8");
    // Without a declared charset FHIR JSON is UTF-8 too.
    assertThat(post(HttpRequest.BodyPublishers.ofByteArray(bytes.toByteArray()), "application/fhir+json")
        .statusCode()).isEqualTo(400);
    assertThat(count(family)).isZero();

    // Valid multi-byte text passes unchanged.
    HttpResponse<String> valid = post(HttpRequest.BodyPublishers.ofString(patient(family, "Zoë Ørsted 山田"),
        StandardCharsets.UTF_8), "application/fhir+json");
    assertThat(valid.statusCode()).as(valid.body()).isEqualTo(201);
    Bundle found = search(family);
    assertThat(((Patient) found.getEntryFirstRep().getResource()).getNameFirstRep().getGivenAsSingleString())
        .isEqualTo("Zoë Ørsted 山田");
  }

  @Test
  void aGzipBodyCountsItsDecompressedSizeAndOtherCodingsAre415() throws Exception {
    String family = "Gz" + UUID.randomUUID();
    // 20 MB of JSON whitespace gzips to about 20 KB: under the 64 KB limit on the wire, far over it inflated.
    String bomb = "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"" + family + "\"}]"
        + " ".repeat(20 * 1024 * 1024) + "}";
    byte[] bombGz = gzip(bomb.getBytes(StandardCharsets.UTF_8));
    assertThat(bombGz.length).isLessThan(64 * 1024);
    assertTooLarge(post(HttpRequest.BodyPublishers.ofByteArray(bombGz), "application/fhir+json", "gzip"));
    assertThat(count(family)).isZero();

    HttpResponse<String> broken = post(HttpRequest.BodyPublishers.ofByteArray(
        patient(family, "plain").getBytes(StandardCharsets.UTF_8)), "application/fhir+json", "gzip");
    assertThat(broken.statusCode()).as(broken.body()).isEqualTo(400);
    assertThat(broken.body()).contains("gzip");

    HttpResponse<String> brotli = post(HttpRequest.BodyPublishers.ofByteArray(
        patient(family, "br").getBytes(StandardCharsets.UTF_8)), "application/fhir+json", "br");
    assertThat(brotli.statusCode()).as(brotli.body()).isEqualTo(415);
    assertThat(FHIR.newJsonParser().parseResource(OperationOutcome.class, brotli.body())
        .getIssueFirstRep().getDiagnostics()).contains("Content-Encoding");
    assertThat(count(family)).isZero();

    // A well-formed gzip body is stored as sent, non-ASCII text included.
    HttpResponse<String> ok = post(HttpRequest.BodyPublishers.ofByteArray(
        gzip(patient(family, "Zoë").getBytes(StandardCharsets.UTF_8))), "application/fhir+json", "gzip");
    assertThat(ok.statusCode()).as(ok.body()).isEqualTo(201);
    assertThat(((Patient) search(family).getEntryFirstRep().getResource()).getNameFirstRep().getGivenAsSingleString())
        .isEqualTo("Zoë");
  }

  static byte[] gzip(byte[] plain) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(out)) {
      gz.write(plain);
    }
    return out.toByteArray();
  }

  static String patient(String family, String given) {
    return "{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"" + family + "\",\"given\":[\"" + given + "\"]}]}";
  }

  void assertTooLarge(HttpResponse<String> response) {
    assertThat(response.statusCode()).as(response.body()).isEqualTo(413);
    OperationOutcome outcome = FHIR.newJsonParser().parseResource(OperationOutcome.class, response.body());
    assertThat(outcome.getIssueFirstRep().getDiagnostics()).contains("medgemma.fhir.max-request-size");
  }

  HttpResponse<String> post(HttpRequest.BodyPublisher body, String contentType) throws Exception {
    return post(body, contentType, null);
  }

  HttpResponse<String> post(HttpRequest.BodyPublisher body, String contentType, String contentEncoding)
      throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://localhost:" + port + "/fhir/Patient"))
        .header("Content-Type", contentType).header("Accept", "application/fhir+json");
    if (contentEncoding != null) {
      request.header("Content-Encoding", contentEncoding);
    }
    return http.send(request.POST(body).build(), HttpResponse.BodyHandlers.ofString());
  }

  Bundle search(String family) throws Exception {
    HttpResponse<String> response = http.send(HttpRequest.newBuilder(
        URI.create("http://localhost:" + port + "/fhir/Patient?family=" + family))
            .header("Cache-Control", "no-cache").build(), // HAPI would answer a repeated search from its cache
        HttpResponse.BodyHandlers.ofString());
    return FHIR.newJsonParser().parseResource(Bundle.class, response.body());
  }

  int count(String family) throws Exception {
    return search(family).getEntry().size();
  }
}
