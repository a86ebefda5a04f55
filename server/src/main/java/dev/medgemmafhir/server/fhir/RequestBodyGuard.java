package dev.medgemmafhir.server.fhir;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import ca.uhn.fhir.rest.server.exceptions.PayloadTooLargeException;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ReadListener;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletInputStream;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletRequestWrapper;
import jakarta.servlet.http.HttpServletResponse;
import java.io.BufferedReader;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.Enumeration;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.util.unit.DataSize;
import org.springframework.web.filter.OncePerRequestFilter;

/**
 * Guards request bodies on {@code /fhir} before HAPI buffers them: a body larger than
 * {@code medgemma.fhir.max-request-size} is a 413 OperationOutcome (at once when the
 * {@code Content-Length} says so, else as soon as that many bytes were read, so no more is ever
 * held in memory), and a text body (FHIR JSON/XML, JSON Patch, forms) declared or defaulting to
 * UTF-8 that is not valid UTF-8 is a 400 instead of being silently repaired with U+FFFD.
 */
public class RequestBodyGuard extends OncePerRequestFilter {

  private static final Logger LOG = LoggerFactory.getLogger(RequestBodyGuard.class);

  private final long maxBytes;
  private final FhirContext fhirContext;

  public RequestBodyGuard(DataSize maxRequestSize, FhirContext fhirContext) {
    this.maxBytes = maxRequestSize.toBytes();
    this.fhirContext = fhirContext;
  }

  @Override
  protected void doFilterInternal(HttpServletRequest request, HttpServletResponse response, FilterChain chain)
      throws ServletException, IOException {
    if (request.getContentLengthLong() > maxBytes) {
      // Refused before HAPI sees the request, so RefusedRequestLog cannot: the same one line here.
      LOG.info("Refused {} {} client=unknown -> 413 Content-Length {} over medgemma.fhir.max-request-size",
          request.getMethod(), request.getRequestURI(), request.getContentLengthLong());
      response.setStatus(413);
      response.setContentType("application/fhir+json;charset=UTF-8");
      response.getWriter().write(fhirContext.newJsonParser().encodeResourceToString(outcome(tooLarge())));
      return;
    }
    String coding = contentCoding(request);
    if (coding != null && !coding.equals("gzip") && !coding.equals("x-gzip")) {
      LOG.info("Refused {} {} client=unknown -> 415 Content-Encoding not supported",
          request.getMethod(), request.getRequestURI());
      response.setStatus(415);
      response.setContentType("application/fhir+json;charset=UTF-8");
      OperationOutcome outcome = new OperationOutcome();
      outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
          .setCode(OperationOutcome.IssueType.NOTSUPPORTED)
          .setDiagnostics("Content-Encoding '" + coding + "' is not supported: send the body as is, or gzip it");
      response.getWriter().write(fhirContext.newJsonParser().encodeResourceToString(outcome));
      return;
    }
    chain.doFilter(new GuardedRequest(request, coding != null), response);
  }

  /** The request body's content coding in lower case, or null for none / identity. */
  static String contentCoding(HttpServletRequest request) {
    String header = request.getHeader("Content-Encoding");
    if (header == null || header.isBlank()) {
      return null;
    }
    String coding = header.trim().toLowerCase(Locale.ROOT);
    return coding.equals("identity") ? null : coding;
  }

  private String tooLarge() {
    return "The request body is larger than " + DataSize.ofBytes(maxBytes).toKilobytes()
        + " KB (medgemma.fhir.max-request-size)";
  }

  private static OperationOutcome outcome(String message) {
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
        .setCode(OperationOutcome.IssueType.TOOLONG).setDiagnostics(message);
    return outcome;
  }

  /** Text bodies that are read as UTF-8 (no charset, or charset UTF-8); checked after decompression. */
  static boolean checksUtf8(HttpServletRequest request) {
    String type = request.getContentType();
    if (type == null) {
      return false;
    }
    String charset = request.getCharacterEncoding();
    if (charset != null && !charset.equalsIgnoreCase("UTF-8") && !charset.equalsIgnoreCase("UTF8")) {
      return false;
    }
    String t = type.toLowerCase(Locale.ROOT);
    return t.contains("json") || t.contains("xml") || t.startsWith("text/") || t.contains("x-www-form-urlencoded");
  }

  private final class GuardedRequest extends HttpServletRequestWrapper {

    private final boolean gzip;
    private GuardedStream stream;

    GuardedRequest(HttpServletRequest request, boolean gzip) {
      super(request);
      this.gzip = gzip;
    }

    @Override
    public ServletInputStream getInputStream() throws IOException {
      if (stream == null) {
        stream = new GuardedStream(super.getInputStream(), gzip, checksUtf8((HttpServletRequest) getRequest()));
      }
      return stream;
    }

    // Once decompressed here, the body is plain: HAPI must not see a Content-Encoding to undo again.
    @Override
    public String getHeader(String name) {
      return gzip && name.equalsIgnoreCase("Content-Encoding") ? null : super.getHeader(name);
    }

    @Override
    public Enumeration<String> getHeaders(String name) {
      return gzip && name.equalsIgnoreCase("Content-Encoding") ? Collections.emptyEnumeration() : super.getHeaders(name);
    }

    @Override
    public Enumeration<String> getHeaderNames() {
      if (!gzip) {
        return super.getHeaderNames();
      }
      return Collections.enumeration(Collections.list(super.getHeaderNames()).stream()
          .filter(name -> !name.equalsIgnoreCase("Content-Encoding")).toList());
    }

    @Override
    public int getContentLength() {
      return gzip ? -1 : super.getContentLength();
    }

    @Override
    public long getContentLengthLong() {
      return gzip ? -1 : super.getContentLengthLong();
    }

    @Override
    public BufferedReader getReader() throws IOException {
      String charset = getCharacterEncoding();
      return new BufferedReader(new InputStreamReader(getInputStream(), charset == null ? "UTF-8" : charset));
    }
  }

  private final class GuardedStream extends ServletInputStream {

    private final ServletInputStream wire;
    private final boolean gzip;
    private InputStream body;
    private final CharsetDecoder utf8;
    private final CharBuffer decoded = CharBuffer.allocate(4096);
    private ByteBuffer pending = ByteBuffer.allocate(0);
    private long read;

    GuardedStream(ServletInputStream wire, boolean gzip, boolean checkUtf8) {
      this.wire = wire;
      this.gzip = gzip;
      this.body = gzip ? null : wire;
      this.utf8 = checkUtf8 ? StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT) : null;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
      int n;
      try {
        if (body == null) {
          body = new GZIPInputStream(wire); // reads the gzip header, so opened on first read
        }
        n = body.read(buffer, offset, length);
      } catch (ZipException | EOFException e) {
        if (!gzip) {
          throw e;
        }
        throw new InvalidRequestException("The request body is declared Content-Encoding: gzip but is not valid gzip");
      }
      if (n < 0) {
        checkUtf8(buffer, offset, 0, true);
        return n;
      }
      read += n;
      if (read > maxBytes) {
        throw new PayloadTooLargeException(tooLarge());
      }
      checkUtf8(buffer, offset, n, false);
      return n;
    }

    private void checkUtf8(byte[] buffer, int offset, int length, boolean end) {
      if (utf8 == null) {
        return;
      }
      ByteBuffer in = ByteBuffer.allocate(pending.remaining() + length);
      in.put(pending).put(buffer, offset, length).flip();
      CoderResult result;
      do {
        decoded.clear();
        result = utf8.decode(in, decoded, end);
      } while (result.isOverflow());
      if (result.isError() || (end && in.hasRemaining())) {
        throw new InvalidRequestException("The request body is not valid UTF-8: send UTF-8, or declare its "
            + "charset in Content-Type");
      }
      pending = ByteBuffer.allocate(in.remaining()).put(in).flip();
    }

    @Override
    public boolean isFinished() {
      return wire.isFinished();
    }

    @Override
    public boolean isReady() {
      return wire.isReady();
    }

    @Override
    public void setReadListener(ReadListener listener) {
      wire.setReadListener(listener);
    }
  }
}
