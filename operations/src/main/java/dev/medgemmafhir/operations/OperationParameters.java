package dev.medgemmafhir.operations;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.parser.DataFormatException;
import ca.uhn.fhir.rest.annotation.Operation;
import ca.uhn.fhir.rest.annotation.OperationParam;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import java.lang.reflect.Method;
import java.lang.reflect.Parameter;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Parameters;

/**
 * Refuses, with a 400, what HAPI would otherwise silently ignore or fail on in the AI operations:
 * a body that is not a {@code Parameters} resource, a parameter the operation does not define (a
 * misspelt {@code maxToken} would otherwise run with the default), a parameter given more often than
 * it may be, and a query-string value that is not of the parameter's type ({@code maxTokens=abc}).
 * The parameters each operation defines are read from its {@link OperationParam} annotations, so
 * the check cannot drift from the operation.
 */
@Interceptor
public final class OperationParameters {

  /** FHIR's own request parameters, accepted on every operation. */
  private static final Set<String> GENERAL = Set.of("_format", "_pretty", "_summary", "_elements");

  private final FhirContext fhir;
  /**
   * {@code Type/$name} (e.g. {@code Encounter/$summarize}; {@code /$name} for a server-level one) to
   * the operation's parameters by name: one name may have other parameters on another type ({@code $verify}).
   */
  private final Map<String, Map<String, OperationParam>> operations = new HashMap<>();

  public OperationParameters(FhirContext fhir, Class<?>... providers) {
    this.fhir = fhir;
    for (Class<?> provider : providers) {
      for (Method method : provider.getMethods()) {
        Operation operation = method.getAnnotation(Operation.class);
        if (operation == null) {
          continue;
        }
        Map<String, OperationParam> params = new LinkedHashMap<>();
        for (Parameter parameter : method.getParameters()) {
          OperationParam param = parameter.getAnnotation(OperationParam.class);
          if (param != null) {
            params.put(param.name(), param);
          }
        }
        String type = operation.type() != org.hl7.fhir.instance.model.api.IBaseResource.class
            ? fhir.getResourceType(operation.type()) : operation.typeName();
        operations.put(type + "/" + (operation.name().startsWith("$") ? operation.name() : "$" + operation.name()),
            params);
      }
    }
  }

  /** Before HAPI binds the parameters (it would answer {@code maxTokens=abc} with a 500). */
  @Hook(Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED)
  public boolean check(RequestDetails request) {
    String operation = request.getOperation() == null ? "" : request.getOperation();
    operation = operation.startsWith("$") ? operation : "$" + operation;
    String type = request.getResourceName() == null ? "" : request.getResourceName();
    Map<String, OperationParam> defined = operations.get(type + "/" + operation);
    if (defined == null) {
      return true;
    }
    Map<String, Integer> counts = new HashMap<>();
    for (Map.Entry<String, String[]> query : request.getParameters().entrySet()) {
      String name = query.getKey();
      if (GENERAL.contains(name)) {
        continue;
      }
      OperationParam param = known(operation, defined, name);
      for (String value : query.getValue()) {
        counts.merge(name, 1, Integer::sum);
        checkType(operation, param, value);
      }
    }
    if (request.getRequestType() == RequestTypeEnum.POST) {
      for (Parameters.ParametersParameterComponent p : body(request, operation).getParameter()) {
        known(operation, defined, p.getName());
        counts.merge(p.getName(), 1, Integer::sum);
      }
    }
    String op = operation;
    counts.forEach((name, count) -> {
      int max = defined.get(name).max();
      if (max != OperationParam.MAX_UNLIMITED && count > max) {
        throw new InvalidRequestException("Parameter '" + name + "' of " + op + " is given " + count
            + " times; it may be given at most " + max + (max == 1 ? " time" : " times"));
      }
    });
    return true;
  }

  private static OperationParam known(String operation, Map<String, OperationParam> defined, String name) {
    OperationParam param = defined.get(name);
    if (param == null) {
      throw new InvalidRequestException("Unknown parameter '" + name + "' for " + operation + "; its parameters are "
          + String.join(", ", defined.keySet()));
    }
    return param;
  }

  private static void checkType(String operation, OperationParam param, String value) {
    String type = param.typeName();
    boolean ok = switch (type) {
      case "integer" -> value.strip().matches("[+-]?\\d{1,9}");
      case "boolean" -> value.equals("true") || value.equals("false");
      case "code", "string" -> true;
      default -> false;
    };
    if (!ok) {
      throw new InvalidRequestException("Parameter '" + param.name() + "' of " + operation + " must be "
          + ("integer".equals(type) ? "an integer" : "boolean".equals(type) ? "true or false"
              : "sent in a Parameters body (type " + type + ")")
          + ", not '" + (value.length() > 40 ? value.substring(0, 40) + "..." : value) + "'");
    }
  }

  /** The POST body as Parameters; an empty body is no parameters. */
  private Parameters body(RequestDetails request, String operation) {
    byte[] contents = request.loadRequestContents();
    if (contents == null || contents.length == 0 || new String(contents, StandardCharsets.UTF_8).isBlank()) {
      return new Parameters();
    }
    String contentType = request.getHeader("Content-Type");
    EncodingEnum encoding = contentType == null ? null
        : EncodingEnum.forContentType(contentType.split(";")[0].strip().toLowerCase(Locale.ROOT));
    if (encoding == null) {
      throw new InvalidRequestException("The body of " + operation + " must be a FHIR Parameters resource sent as"
          + " application/fhir+json or application/fhir+xml" + (contentType == null ? "" : ", not " + contentType));
    }
    IBaseResource resource;
    try {
      resource = encoding.newParser(fhir).parseResource(new String(contents, StandardCharsets.UTF_8));
    } catch (DataFormatException e) {
      throw new InvalidRequestException("The body of " + operation + " is not a valid FHIR resource: " + e.getMessage());
    }
    if (!(resource instanceof Parameters parameters)) {
      throw new InvalidRequestException("The body of " + operation + " must be a Parameters resource, not "
          + fhir.getResourceType(resource));
    }
    return parameters;
  }
}
