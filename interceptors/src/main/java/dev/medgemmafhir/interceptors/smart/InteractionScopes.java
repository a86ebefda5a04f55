package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.rest.api.Constants;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.hl7.fhir.r4.model.Bundle;

/**
 * The scope letters each FHIR interaction needs, in one place, checked before anything is read
 * or matched (so a refusal never depends on stored data). HAPI's rules then check the patient
 * compartment of what is read and written.
 *
 * <table>
 *   <caption>Letters per interaction</caption>
 *   <tr><th>interaction</th><th>needs</th></tr>
 *   <tr><td>read, vread</td><td>{@code r}</td></tr>
 *   <tr><td>search</td><td>{@code s}</td></tr>
 *   <tr><td>history (instance, type, system); system search</td><td>{@code s} from a {@code user/} or
 *       {@code system/} scope (on {@code *} for system level): history cannot be narrowed to a
 *       compartment (an old version may belong to another patient), nor can a system search</td></tr>
 *   <tr><td>create</td><td>{@code c}</td></tr>
 *   <tr><td>conditional create ({@code If-None-Exist})</td><td>{@code c r s}: it searches, and answers with the match</td></tr>
 *   <tr><td>update</td><td>{@code u} ({@code c} as well when it creates: see {@link SmartWriteGuard})</td></tr>
 *   <tr><td>conditional update</td><td>{@code u s}</td></tr>
 *   <tr><td>patch</td><td>{@code u r}: it answers with the whole resource, and a JSON Patch {@code test}
 *       reveals values by succeeding or failing</td></tr>
 *   <tr><td>conditional patch</td><td>{@code u r s}</td></tr>
 *   <tr><td>delete</td><td>{@code d}</td></tr>
 *   <tr><td>conditional delete</td><td>{@code d s}</td></tr>
 * </table>
 *
 * Transaction and batch entries need the same as the request they stand for. When a type's
 * {@code s} comes from a {@code patient/} scope only, its searches and conditional URLs must be
 * narrowed to the patient ({@link SmartSearchNarrowingInterceptor}); a bundle that cannot be
 * narrowed (its token also holds {@code user/} search scopes) may not search such a type.
 */
final class InteractionScopes {

  /**
   * @param resourceType a type, or {@code *} for system-level interactions
   * @param letters the letters needed, each of {@code c r u d s}
   * @param patientScopesSuffice whether {@code patient/} scopes may grant them
   * @param what the interaction, for the refusal message
   */
  record Need(String resourceType, String letters, boolean patientScopesSuffice, String what) {}

  private InteractionScopes() {}

  /** Why the token may not make this request, or empty when its scopes have the letters. */
  static Optional<String> refusal(RequestDetails request, SmartPrincipal principal) {
    RestOperationTypeEnum type = request.getRestOperationType();
    if ((type == RestOperationTypeEnum.TRANSACTION || type == RestOperationTypeEnum.BATCH)
        && request.getResource() instanceof Bundle bundle) {
      boolean narrowed = principal.searchesNarrowedToPatient(null);
      for (Bundle.BundleEntryComponent entry : bundle.getEntry()) {
        if (!entry.hasRequest()) {
          continue;
        }
        Bundle.BundleEntryRequestComponent r = entry.getRequest();
        Optional<Need> need = ofEntry(r.getMethod(), r.getUrl(), r.getIfNoneExist());
        Optional<String> refused = need.flatMap(n -> check(principal, n, narrowed));
        if (refused.isPresent()) {
          return refused;
        }
      }
      return Optional.empty();
    }
    Optional<Need> need = of(request);
    return need.flatMap(n -> check(principal, n, principal.searchesNarrowedToPatient(n.resourceType())));
  }

  /** What a (non-bundle) request needs; empty for metadata, paging and operations (checked elsewhere). */
  static Optional<Need> of(RequestDetails request) {
    RestOperationTypeEnum type = request.getRestOperationType();
    String t = request.getResourceName();
    if (type == null) {
      return Optional.empty();
    }
    return switch (type) {
      case READ, VREAD -> need(t, "r", true, "read");
      case SEARCH_TYPE -> need(t, "s", true, "search");
      case HISTORY_INSTANCE -> need(t, "s", false, "history");
      case HISTORY_TYPE -> need(t, "s", false, "type history");
      case SEARCH_SYSTEM -> need("*", "s", false, "system search");
      case HISTORY_SYSTEM -> need("*", "s", false, "system history");
      case CREATE -> isBlank(request.getHeader(Constants.HEADER_IF_NONE_EXIST))
          ? need(t, "c", true, "create")
          : need(t, "crs", true, "conditional create (If-None-Exist)");
      case UPDATE -> isBlank(request.getConditionalUrl(type))
          ? need(t, "u", true, "update")
          : need(t, "us", true, "conditional update");
      case PATCH -> isBlank(request.getConditionalUrl(type))
          ? need(t, "ur", true, "patch")
          : need(t, "urs", true, "conditional patch");
      case DELETE -> isBlank(request.getConditionalUrl(type))
          ? need(t, "d", true, "delete")
          : need(t, "ds", true, "conditional delete");
      default -> Optional.empty();
    };
  }

  /** What a transaction or batch entry needs; empty for entries that are operations. */
  static Optional<Need> ofEntry(Bundle.HTTPVerb method, String url, String ifNoneExist) {
    if (method == null || isBlank(url)) {
      return Optional.empty();
    }
    int q = url.indexOf('?');
    boolean conditional = q >= 0;
    String path = conditional ? url.substring(0, q) : url;
    List<String> parts = new ArrayList<>(List.of(path.replaceAll("^/+|/+$", "").split("/")));
    parts.removeIf(String::isEmpty);
    if (parts.isEmpty() || parts.get(0).startsWith("_history")) {
      return method == Bundle.HTTPVerb.GET ? need("*", "s", false, "system search or history") : Optional.empty();
    }
    if (parts.stream().anyMatch(p -> p.startsWith("$"))) {
      return Optional.empty();
    }
    String t = parts.get(0);
    int n = parts.size();
    return switch (method) {
      case GET, HEAD -> {
        if (n == 1 || parts.get(1).equals("_search")) {
          yield need(t, "s", true, "search");
        }
        if (n == 2 && parts.get(1).equals("_history")) {
          yield need(t, "s", false, "type history");
        }
        if (n == 3 && parts.get(2).equals("_history")) {
          yield need(t, "s", false, "history");
        }
        yield need(t, "r", true, "read");
      }
      case POST -> {
        if (n >= 2 && parts.get(1).equals("_search")) {
          yield need(t, "s", true, "search");
        }
        yield isBlank(ifNoneExist) ? need(t, "c", true, "create")
            : need(t, "crs", true, "conditional create (ifNoneExist)");
      }
      case PUT -> conditional ? need(t, "us", true, "conditional update") : need(t, "u", true, "update");
      case PATCH -> conditional ? need(t, "urs", true, "conditional patch") : need(t, "ur", true, "patch");
      case DELETE -> conditional ? need(t, "ds", true, "conditional delete") : need(t, "d", true, "delete");
      default -> Optional.empty();
    };
  }

  /**
   * @param narrowed whether this request's searches of the need's type are narrowed to the
   *     token's patient
   */
  static Optional<String> check(SmartPrincipal principal, Need need, boolean narrowed) {
    String t = need.resourceType();
    for (char letter : need.letters().toCharArray()) {
      boolean viaUser = principal.grantsWithoutCompartment(t, letter);
      boolean viaPatient = need.patientScopesSuffice() && principal.grantsInPatientCompartment(t, letter);
      if (!viaUser && !viaPatient) {
        String scope = need.patientScopesSuffice() ? t + "." + need.letters() : "user/ or system/ " + t + ".s";
        return Optional.of(need.what() + " of " + t + " needs " + scope + "; the token lacks " + t + "." + letter);
      }
      if (letter == 's' && !viaUser && !narrowed) {
        return Optional.of(need.what() + " of " + t + " searches with a patient/ scope, but this request cannot "
            + "be narrowed to the token's patient (the token also holds user/ or system/ search scopes): "
            + "send it on its own");
      }
    }
    return Optional.empty();
  }

  private static Optional<Need> need(String type, String letters, boolean patientScopesSuffice, String what) {
    return type == null ? Optional.empty() : Optional.of(new Need(type, letters, patientScopesSuffice, what));
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }
}
