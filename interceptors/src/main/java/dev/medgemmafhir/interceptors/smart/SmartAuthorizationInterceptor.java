package dev.medgemmafhir.interceptors.smart;

import ca.uhn.fhir.i18n.Msg;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.rest.api.RestOperationTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.model.api.StorageResponseCodeEnum;
import ca.uhn.fhir.rest.server.exceptions.BaseServerResponseException;
import ca.uhn.fhir.rest.server.exceptions.ForbiddenOperationException;
import ca.uhn.fhir.rest.server.exceptions.ResourceNotFoundException;
import ca.uhn.fhir.rest.server.interceptor.auth.AuthorizationInterceptor;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRule;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilder;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilderRuleOp;
import ca.uhn.fhir.rest.server.interceptor.auth.IAuthRuleBuilderRuleOpClassifier;
import ca.uhn.fhir.rest.server.interceptor.auth.PolicyEnum;
import ca.uhn.fhir.rest.server.interceptor.auth.RuleBuilder;
import dev.medgemmafhir.interceptors.smart.OperationScopePolicy.Permission;
import dev.medgemmafhir.interceptors.smart.SmartScope.Context;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.hl7.fhir.instance.model.api.IIdType;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;

/**
 * Turns a token's SMART scopes into HAPI authorization rules, request by request.
 *
 * <ul>
 *   <li>First the letters each interaction needs ({@link InteractionScopes}: e.g. a conditional
 *       create needs {@code c r s}, a patch {@code u r}), checked before anything is matched.
 *   <li>Then HAPI's rules: {@code r} allows read and vread, {@code s} search and history,
 *       {@code c} create, {@code u} update and patch, {@code d} delete; {@code patient/} scopes
 *       only inside the token's {@code patient} compartment, {@code user/} and {@code system/}
 *       per resource type. Creation needs {@code c} however it happens, and patient-scoped writes
 *       may not reference other patients ({@link SmartWriteGuard}).
 *   <li>Transactions and batches are allowed, each entry is checked by the same rules.
 *   <li>Operations follow {@link OperationScopePolicy}; other operations need a
 *       {@code user/*.cruds} or {@code system/*.cruds} (v1: {@code *.*}) token.
 *   <li>Everything else is denied with 403.
 * </ul>
 */
@Interceptor
public class SmartAuthorizationInterceptor extends AuthorizationInterceptor {

  private static final Set<RestOperationTypeEnum> READS = Set.of(RestOperationTypeEnum.READ, RestOperationTypeEnum.VREAD);
  private static final Set<RestOperationTypeEnum> SEARCHES = Set.of(
      RestOperationTypeEnum.SEARCH_TYPE, RestOperationTypeEnum.SEARCH_SYSTEM, RestOperationTypeEnum.GET_PAGE,
      RestOperationTypeEnum.HISTORY_INSTANCE, RestOperationTypeEnum.HISTORY_TYPE, RestOperationTypeEnum.HISTORY_SYSTEM);
  private static final Set<RestOperationTypeEnum> OPERATIONS = Set.of(
      RestOperationTypeEnum.EXTENDED_OPERATION_INSTANCE, RestOperationTypeEnum.EXTENDED_OPERATION_TYPE,
      RestOperationTypeEnum.EXTENDED_OPERATION_SERVER);

  /** The last rule of every scope rule list: what denies a resource outside the compartment. */
  private static final String INSUFFICIENT_SCOPE = "insufficient scope";

  private final PatientCompartment compartment;

  public SmartAuthorizationInterceptor(PatientCompartment compartment) {
    super(PolicyEnum.DENY);
    this.compartment = compartment;
  }

  @Override
  public List<IAuthRule> buildRuleList(RequestDetails request) {
    Optional<SmartPrincipal> found = SmartPrincipal.of(request);
    if (found.isEmpty()) {
      return new RuleBuilder().allow().metadata().andThen().denyAll("no access token").build();
    }
    SmartPrincipal principal = found.get();
    if (hasFullAccess(principal)) {
      return new RuleBuilder().allowAll("full access scope").build();
    }
    RestOperationTypeEnum type = request.getRestOperationType();
    if (type != null && OPERATIONS.contains(type)) {
      return operationRules(request, principal);
    }
    Optional<String> refusal = InteractionScopes.refusal(request, principal);
    if (refusal.isPresent()) {
      return deny(refusal.get());
    }
    return scopeRules(principal, type);
  }

  private static boolean hasFullAccess(SmartPrincipal principal) {
    return principal.scopes().stream()
        .anyMatch(s -> s.context() != Context.PATIENT && s.isAllTypes() && s.permissions().equals("cruds"));
  }

  private List<IAuthRule> operationRules(RequestDetails request, SmartPrincipal principal) {
    String operation = request.getOperation();
    if (operation != null && !operation.startsWith("$")) {
      operation = "$" + operation;
    }
    if (OperationScopePolicy.ASYNC_STATUS.equals(operation)
        && request.getRestOperationType() == RestOperationTypeEnum.EXTENDED_OPERATION_SERVER) {
      // The status URL of an async kick-off is a capability URL (a random job id); the kick-off
      // itself was checked against the operation's scopes.
      return new RuleBuilder().allowAll(operation + " of an accepted kick-off").build();
    }
    String resourceType = request.getResourceName();
    if (resourceType == null && OperationScopePolicy.SERVER_LEVEL_OPEN.contains(operation)) {
      return new RuleBuilder().allowAll(operation + " reads no record and writes nothing").build();
    }
    Optional<List<Permission>> needs = resourceType == null || request.getId() == null
        ? Optional.empty()
        : OperationScopePolicy.required(resourceType, operation, PersistRequested.of(request));
    if (needs.isEmpty()) {
      return deny("operation " + operation + " needs a user/*.cruds or system/*.cruds scope");
    }
    boolean viaPatientScope = false;
    for (Permission p : needs.get()) {
      if (principal.grantsWithoutCompartment(p.resourceType(), p.permission())) {
        continue;
      }
      if (principal.grantsInPatientCompartment(p.resourceType(), p.permission())) {
        viaPatientScope = true;
        continue;
      }
      return deny(operation + " needs " + needs.get().stream().map(Permission::toString)
          .collect(Collectors.joining(" and ")) + "; the token lacks " + p);
    }
    if (viaPatientScope) {
      IIdType instance = new IdType(resourceType, request.getId().getIdPart());
      if (!compartment.contains(instance, principal.patientId())) {
        return deny(instance.getValue() + " is not in the compartment of the token's patient");
      }
    }
    return new RuleBuilder().allowAll(operation + " per the operation scope policy").build();
  }

  private static List<IAuthRule> scopeRules(SmartPrincipal principal, RestOperationTypeEnum type) {
    IAuthRuleBuilder rules = new RuleBuilder();
    rules.allow().metadata();
    rules.allow("transaction entries are checked one by one").transaction().withAnyOperation().andApplyNormalRules();
    boolean anyUpdate = false;
    for (SmartScope scope : principal.scopes()) {
      IIdType patient = null;
      if (scope.context() == Context.PATIENT) {
        if (principal.patient() == null) {
          continue;
        }
        patient = principal.patientId();
      }
      String name = scope.context().name().toLowerCase() + "/" + scope.resourceType() + "." + scope.permissions();
      if (grantsRead(scope, type)) {
        finish(types(rules.allow(name).read(), scope), patient);
      }
      if (scope.permissions().indexOf('c') >= 0) {
        finish(types(rules.allow(name).create(), scope), patient);
      }
      // HAPI's write rule covers create and update; a token with 'u' but no 'c' must not create.
      if (scope.permissions().indexOf('u') >= 0 && type != RestOperationTypeEnum.CREATE) {
        finish(types(rules.allow(name).write(), scope), patient);
        anyUpdate = true;
      }
      if (scope.permissions().indexOf('d') >= 0) {
        finish(types(rules.allow(name).delete(), scope), patient);
      }
    }
    if (anyUpdate) {
      // A patch is then checked as the update it results in.
      rules.allow("patch, checked as an update").patch().allRequests();
    }
    rules.denyAll(INSUFFICIENT_SCOPE);
    return rules.build();
  }

  private static boolean grantsRead(SmartScope scope, RestOperationTypeEnum type) {
    String p = scope.permissions();
    if (type != null && READS.contains(type)) {
      return p.indexOf('r') >= 0;
    }
    if (type != null && SEARCHES.contains(type)) {
      return p.indexOf('s') >= 0;
    }
    return p.indexOf('r') >= 0 || p.indexOf('s') >= 0;
  }

  private static IAuthRuleBuilderRuleOpClassifier types(IAuthRuleBuilderRuleOp rule, SmartScope scope) {
    return scope.isAllTypes() ? rule.allResources() : rule.resourcesOfType(scope.resourceType());
  }

  private static void finish(IAuthRuleBuilderRuleOpClassifier rule, IIdType patient) {
    if (patient == null) {
      rule.withAnyId();
    } else {
      rule.inCompartment("Patient", patient);
    }
  }

  /**
   * A read or delete of a resource outside the token's compartment answers exactly like one of a
   * resource that does not exist (HAPI's own answers: 404 for a read, 200 "not deleted, does not
   * exist" for a delete), so ids cannot be probed for whether another patient's resource exists. Every other refusal is a 403. (The scope letters were checked
   * before HAPI's rules run, so a denial here means "outside the compartment", not "no scope".)
   */
  @Override
  protected void handleDeny(RequestDetails request, Verdict decision) {
    try {
      super.handleDeny(request, decision);
    } catch (ForbiddenOperationException e) {
      // Verdict hides its rule from subclasses; HAPI's message names it.
      boolean outsideCompartment = e.getMessage() != null && e.getMessage().endsWith(": " + INSUFFICIENT_SCOPE);
      RestOperationTypeEnum type = request.getRestOperationType();
      if (outsideCompartment && request.getId() != null) {
        String id = new IdType(request.getResourceName(), request.getId().getIdPart()).getValue();
        if (READS.contains(type)) {
          throw new ResourceNotFoundException(Msg.code(2001) + "Resource " + id + " is not known");
        }
        if (type == RestOperationTypeEnum.DELETE) {
          throw new DeleteOfUnknownResource(request, id);
        }
      }
      throw e;
    }
  }

  /**
   * HAPI's own answer to deleting an id that does not exist (200, "Not deleted, resource ... does
   * not exist"), given for a delete refused because the resource is another patient's. Thrown,
   * so nothing is deleted and the refusal is still logged and audited as one.
   */
  static final class DeleteOfUnknownResource extends BaseServerResponseException {
    private static final long serialVersionUID = 1L;

    DeleteOfUnknownResource(RequestDetails request, String id) {
      super(200, message(request, id), outcome(request, id));
    }

    private static String message(RequestDetails request, String id) {
      return request.getFhirContext().getLocalizer()
          .getMessage("ca.uhn.fhir.jpa.dao.BaseStorageDao.deleteResourceNotExisting", id);
    }

    private static OperationOutcome outcome(RequestDetails request, String id) {
      OperationOutcome outcome = new OperationOutcome();
      StorageResponseCodeEnum code = StorageResponseCodeEnum.SUCCESSFUL_DELETE_NOT_FOUND;
      outcome.addIssue().setSeverity(OperationOutcome.IssueSeverity.INFORMATION)
          .setCode(OperationOutcome.IssueType.INFORMATIONAL).setDiagnostics(message(request, id))
          .getDetails().addCoding().setSystem(code.getSystem()).setCode(code.getCode()).setDisplay(code.getDisplay());
      return outcome;
    }
  }

  private static List<IAuthRule> deny(String reason) {
    return new RuleBuilder().allow().metadata().andThen().denyAll(reason).build();
  }
}
