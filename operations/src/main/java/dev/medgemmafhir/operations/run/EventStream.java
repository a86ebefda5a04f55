package dev.medgemmafhir.operations.run;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.servlet.ServletRequestDetails;
import dev.medgemmafhir.engine.Cancellation;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Locale;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.OperationOutcome;

/**
 * Server-sent events for an AI operation asked with {@code Accept: text/event-stream}: a {@code token}
 * event per piece of generated text ({@code data: {"text": "..."}}), then one {@code result} event
 * (the final resource or Parameters as FHIR JSON) or one {@code error} event (an OperationOutcome).
 * The stream opens with the first event, so what fails before generation starts (a bad parameter,
 * a full queue) is an ordinary FHIR error response. While no text comes (the wait for the model,
 * a long prefill) a comment line {@code : keepalive} is sent every heartbeat interval, which keeps
 * proxies from closing an idle connection and finds out whether the client is still there. A write
 * that fails means the client went away: the generation is cancelled (or its wait for the model
 * given up), and nothing is written.
 *
 * <p>Register it as a server interceptor too: once a stream is open, HAPI must not write its own
 * response (or error) after it; the audit trail, whose hooks run first, still records the call.
 */
@Interceptor
public final class EventStream {

  public static final String MEDIA_TYPE = "text/event-stream";
  private static final String STREAMED = EventStream.class.getName() + ".streamed";

  private final RequestDetails request;
  private final Cancellation cancellation;
  private OutputStream out;
  private boolean broken;
  private boolean ended;
  private long lastWrite;

  /** The interceptor instance. */
  public EventStream() {
    this.request = null;
    this.cancellation = null;
  }

  private EventStream(RequestDetails request, Cancellation cancellation) {
    this.request = request;
    this.cancellation = cancellation;
  }

  /** Whether the client asked for a stream (and the request came over HTTP). */
  public static boolean wanted(RequestDetails request) {
    String accept = request.getHeader("Accept");
    return request instanceof ServletRequestDetails && accept != null
        && accept.toLowerCase(Locale.ROOT).contains(MEDIA_TYPE);
  }

  /** A stream for this request; {@code cancellation} is cancelled when the client goes away. */
  public static EventStream of(RequestDetails request, Cancellation cancellation) {
    return new EventStream(request, cancellation);
  }

  /** One piece of generated text. */
  public synchronized void token(String delta) {
    send("token", "{\"text\":" + jsonString(delta) + "}");
  }

  /**
   * An SSE comment line, unless something was written within {@code idle}: ignored by clients, it
   * keeps the connection busy and tells whether the client is there.
   */
  public synchronized void keepalive(Duration idle) {
    if (out != null && System.nanoTime() - lastWrite < idle.toNanos()) {
      return; // text is flowing: its writes do the same
    }
    write(": keepalive\n\n");
  }

  public synchronized void result(IBaseResource resource) {
    send("result", request.getFhirContext().newJsonParser().encodeResourceToString(resource));
  }

  /** Sends the failure as an {@code error} event when the stream is open; returns whether it was. */
  public synchronized boolean error(BaseServerResponseException failure) {
    if (out == null) {
      return false;
    }
    OperationOutcome outcome = new OperationOutcome();
    outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.ERROR)
        .setCode(OperationOutcome.IssueType.PROCESSING)
        .setDiagnostics(failure.getMessage() + " (HTTP " + failure.getStatusCode() + ")");
    send("error", request.getFhirContext().newJsonParser().encodeResourceToString(outcome));
    return true;
  }

  /**
   * The stream is over (its result or error sent, or the call failed before it opened): nothing is written
   * after this, so a late beat cannot reach a response the container has completed and may reuse.
   */
  public synchronized void end() {
    ended = true;
  }

  /** Whether the client went away. */
  public synchronized boolean broken() {
    return broken;
  }

  private void send(String event, String data) {
    // The data is one line: JSON without pretty printing has no raw line breaks.
    write("event: " + event + "\ndata: " + data + "\n\n");
  }

  private void write(String text) {
    if (broken || ended) {
      return;
    }
    try {
      if (out == null) {
        HttpServletResponse response = ((ServletRequestDetails) request).getServletResponse();
        response.setStatus(200);
        response.setContentType(MEDIA_TYPE);
        response.setCharacterEncoding("UTF-8");
        response.setHeader("Cache-Control", "no-cache");
        response.setHeader("X-Accel-Buffering", "no");
        out = response.getOutputStream();
        request.getUserData().put(STREAMED, Boolean.TRUE);
      }
      out.write(text.getBytes(StandardCharsets.UTF_8));
      out.flush();
      lastWrite = System.nanoTime();
    } catch (IOException | RuntimeException gone) {
      broken = true;
      cancellation.cancel();
    }
  }

  static String jsonString(String text) {
    StringBuilder json = new StringBuilder("\"");
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      switch (c) {
        case '"' -> json.append("\\\"");
        case '\\' -> json.append("\\\\");
        case '\n' -> json.append("\\n");
        case '\r' -> json.append("\\r");
        case '\t' -> json.append("\\t");
        default -> {
          if (c < 0x20 || c == '\u2028' || c == '\u2029') {
            json.append(String.format("\\u%04x", (int) c));
          } else {
            json.append(c);
          }
        }
      }
    }
    return json.append('"').toString();
  }

  /** After the audit trail's hooks (order 0): the stream already answered. */
  @Hook(value = Pointcut.SERVER_OUTGOING_RESPONSE, order = 1000)
  public boolean streamedResponse(RequestDetails request) {
    return !Boolean.TRUE.equals(request.getUserData().get(STREAMED));
  }

  @Hook(value = Pointcut.SERVER_HANDLE_EXCEPTION, order = 1000)
  public boolean streamedFailure(RequestDetails request) {
    return !Boolean.TRUE.equals(request.getUserData().get(STREAMED));
  }
}
