package dev.medgemmafhir.interceptors.smart;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One SMART App Launch resource scope, e.g. {@code patient/Observation.rs} (v2) or
 * {@code user/*.read} (v1, read = {@code rs}, write = {@code cud}, {@code *} = {@code cruds}).
 * Scopes with a v2 query ({@code patient/Observation.rs?category=...}) are not honoured: this
 * server cannot narrow by them, so they grant nothing rather than more than intended.
 *
 * @param context who the access is for
 * @param resourceType a FHIR resource type, or {@code *} for all
 * @param permissions a subset of {@code cruds}
 */
public record SmartScope(Context context, String resourceType, String permissions) {

  /** The SMART scope prefix. */
  public enum Context {
    /** Confined to the token's {@code patient} compartment. */
    PATIENT,
    /** Anything the user may see. */
    USER,
    /** Backend service access. */
    SYSTEM
  }

  private static final Pattern SCOPE =
      Pattern.compile("(patient|user|system)/(\\*|[A-Z][A-Za-z]+)\\.(read|write|\\*|c?r?u?d?s?)");

  /** Parses one scope; anything that is not a resource scope (openid, launch, ...) is empty. */
  public static Optional<SmartScope> parse(String scope) {
    Matcher m = SCOPE.matcher(scope);
    if (!m.matches() || m.group(3).isEmpty()) {
      return Optional.empty();
    }
    String permissions = switch (m.group(3)) {
      case "read" -> "rs";
      case "write" -> "cud";
      case "*" -> "cruds";
      default -> m.group(3);
    };
    Context context = Context.valueOf(m.group(1).toUpperCase(Locale.ROOT));
    return Optional.of(new SmartScope(context, m.group(2), permissions));
  }

  /** Parses every resource scope of a token's scope list. */
  public static List<SmartScope> parseAll(Collection<String> scopes) {
    List<SmartScope> parsed = new ArrayList<>();
    for (String scope : scopes) {
      parse(scope).ifPresent(parsed::add);
    }
    return List.copyOf(parsed);
  }

  /** Whether this scope grants {@code permission} (one of {@code c r u d s}) on {@code type}. */
  public boolean grants(String type, char permission) {
    return (resourceType.equals("*") || resourceType.equals(type)) && permissions.indexOf(permission) >= 0;
  }

  public boolean isAllTypes() {
    return resourceType.equals("*");
  }
}
