package dev.medgemmafhir.interceptors.smart;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * SMART defines no scopes for FHIR operations, so this server's documented policy is: an
 * operation needs the scopes of what it reads and writes.
 *
 * <table>
 *   <caption>Scopes per operation</caption>
 *   <tr><th>operation</th><th>needs</th></tr>
 *   <tr><td>{@code Encounter/{id}/$summarize}</td><td>{@code Encounter.r} and {@code DocumentReference.c}</td></tr>
 *   <tr><td>{@code ImagingStudy/{id}/$draft-report}</td><td>{@code ImagingStudy.r} and {@code DiagnosticReport.c}</td></tr>
 *   <tr><td>{@code DocumentReference/{id}/$verify}</td><td>{@code DocumentReference.u}</td></tr>
 *   <tr><td>{@code DiagnosticReport/{id}/$verify}</td><td>{@code DiagnosticReport.u}</td></tr>
 *   <tr><td>{@code Patient/{id}/$ask}</td><td>{@code Patient.r}; with {@code persist=true} also {@code DocumentReference.c}</td></tr>
 *   <tr><td>{@code Encounter/{id}/$ask}</td><td>{@code Encounter.r}; with {@code persist=true} also {@code DocumentReference.c}</td></tr>
 *   <tr><td>{@code [base]/$ask}</td><td>a valid token (no record is read, nothing is written)</td></tr>
 * </table>
 *
 * With {@code patient/} scopes the instance must also be in the token's patient compartment.
 * Polling an asynchronous kick-off ({@code GET/DELETE [base]/$async-status?_jobId=...}) needs a
 * valid token only: the job id is unguessable and the kick-off was checked.
 */
public final class OperationScopePolicy {

  /** One permission on one resource type, e.g. {@code Encounter.r}. */
  public record Permission(String resourceType, char permission) {
    @Override
    public String toString() {
      return resourceType + "." + permission;
    }
  }

  private static final Map<String, List<Permission>> POLICY = Map.of(
      "Encounter/$summarize", List.of(new Permission("Encounter", 'r'), new Permission("DocumentReference", 'c')),
      "ImagingStudy/$draft-report", List.of(new Permission("ImagingStudy", 'r'), new Permission("DiagnosticReport", 'c')),
      "DocumentReference/$verify", List.of(new Permission("DocumentReference", 'u')),
      "DiagnosticReport/$verify", List.of(new Permission("DiagnosticReport", 'u')),
      "Patient/$ask", List.of(new Permission("Patient", 'r')),
      "Encounter/$ask", List.of(new Permission("Encounter", 'r')));

  /** What an operation that keeps its result only on request ({@code persist=true}) needs in addition then. */
  private static final Map<String, Permission> WHEN_PERSISTING = Map.of(
      "Patient/$ask", new Permission("DocumentReference", 'c'),
      "Encounter/$ask", new Permission("DocumentReference", 'c'));

  /** The server-level operations any valid token may call: they read no record and write nothing. */
  public static final java.util.Set<String> SERVER_LEVEL_OPEN = java.util.Set.of("$ask");

  /** The status endpoint of asynchronous kick-offs (operations module). */
  public static final String ASYNC_STATUS = "$async-status";

  private OperationScopePolicy() {}

  /** What an instance operation needs, or empty for an operation this policy does not cover. */
  public static Optional<List<Permission>> required(String resourceType, String operation) {
    return required(resourceType, operation, false);
  }

  /** As {@link #required(String, String)}, for a request that asks ({@code persist}) to keep its result. */
  public static Optional<List<Permission>> required(String resourceType, String operation, boolean persist) {
    String key = resourceType + "/" + operation;
    List<Permission> needs = POLICY.get(key);
    if (needs == null || !persist || !WHEN_PERSISTING.containsKey(key)) {
      return Optional.ofNullable(needs);
    }
    List<Permission> more = new java.util.ArrayList<>(needs);
    more.add(WHEN_PERSISTING.get(key));
    return Optional.of(List.copyOf(more));
  }

  /** The policy as one line per operation, for the CapabilityStatement and error messages. */
  public static String describe() {
    return "Encounter/{id}/$summarize needs Encounter.r + DocumentReference.c; "
        + "ImagingStudy/{id}/$draft-report needs ImagingStudy.r + DiagnosticReport.c; "
        + "DocumentReference/{id}/$verify needs DocumentReference.u; "
        + "DiagnosticReport/{id}/$verify needs DiagnosticReport.u; "
        + "Patient/{id}/$ask needs Patient.r, Encounter/{id}/$ask Encounter.r, each also DocumentReference.c with"
        + " persist=true; [base]/$ask needs a valid token; "
        + "with patient/ scopes the instance must be in the token's patient compartment; "
        + "polling $async-status needs a valid token only";
  }
}
