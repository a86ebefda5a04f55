package dev.medgemmafhir.server.security;

import static dev.medgemmafhir.server.security.FhirHttp.FHIR;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import dev.medgemmafhir.interceptors.smart.TestIssuer;
import dev.medgemmafhir.server.security.Charts.Chart;
import dev.medgemmafhir.server.security.Charts.Kind;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.r4.model.Bundle;
import org.hl7.fhir.r4.model.DomainResource;
import org.hl7.fhir.r4.model.IdType;
import org.hl7.fhir.r4.model.OperationOutcome;
import org.hl7.fhir.r4.model.Reference;
import org.hl7.fhir.r4.model.Resource;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.function.Executable;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The attack suite: the real server with security on and tokens from a real issuer (discovery +
 * JWKS over HTTP), one Spring context, two patients' records seeded once. Every case is generated
 * from the tables below (resource kinds x interactions x scopes); the README's Security section
 * reports how many there are.
 *
 * <ul>
 *   <li>{@link #eachLetterGrantsExactlyWhatTheReadmeSays}: for every kind, interaction and scope
 *       (each single letter, the letters the interaction needs, and each of those less one), in
 *       {@code user/} and {@code patient/} context, the request is allowed (2xx) exactly when the
 *       scope holds every letter the README's table names, else refused with 403.
 *   <li>{@link #patientATokenGetsNoByteAndNoCountOfPatientB}: a patient-scoped token for A sends
 *       every probe once aimed at B's data and once at an id or marker that exists nowhere; the
 *       two answers must be the same (status, bundle totals and entry statuses, message), and no
 *       answer may contain B's marker or any of B's ids.
 *   <li>{@link #patientScopedWritesStayInTheirPatientsRecord}: a patient-scoped write that also
 *       references patient B (or B's encounter) is refused on every write path; the same write by
 *       a {@code user/} token (into a third patient's record) goes through.
 * </ul>
 */
@SpringBootTest(
    webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT,
    properties = "spring.datasource.url=jdbc:h2:mem:attack-suite;DB_CLOSE_DELAY=-1")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AttackSuiteTest {

  static final TestIssuer ISSUER = startIssuer();
  static final String ADMIN = "system/*.cruds";
  static final String NOWHERE = "990099009";
  static final String PATCH = "[{\"op\":\"add\",\"path\":\"/language\",\"value\":\"en\"}]";

  @DynamicPropertySource
  static void security(DynamicPropertyRegistry registry) {
    registry.add("medgemma.security.enabled", () -> "true");
    registry.add("medgemma.security.issuer", () -> ISSUER.issuer().toString());
    registry.add("medgemma.security.audience", () -> TestIssuer.AUDIENCE);
  }

  @LocalServerPort int port;
  FhirHttp fhir;
  Chart a;
  Chart b;
  /** A third patient, whose record the allowed (user/) writes that reference B go into. */
  Chart c;
  final Map<String, String> tokens = new ConcurrentHashMap<>();

  @BeforeAll
  void seed() {
    fhir = new FhirHttp(port);
    a = seed("A");
    b = seed("B");
    c = seed("C");
  }

  @AfterAll
  static void stopIssuer() {
    CLIENTS.shutdownNow();
    ISSUER.close();
  }

  Chart seed(String label) {
    String marker = Charts.newMarker(label);
    HttpResponse<String> response = fhir.post("", token(ADMIN, null), Charts.transaction(marker));
    assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
    return Charts.chart(marker, FhirHttp.parse(response, Bundle.class));
  }

  String token(String scopes, String patient) {
    return tokens.computeIfAbsent(scopes + "|" + patient, k -> patient == null
        ? ISSUER.token(scopes)
        : ISSUER.token(scopes, c -> c.claim("patient", new IdType(patient).getIdPart())));
  }

  // ---- 1. each permission letter grants exactly what the README's table says -------------------

  /** An interaction, the letters the README says it needs, and how to send it. */
  enum Interaction {
    READ("r", true), VREAD("r", true), SEARCH("s", true), HISTORY("s", true),
    TYPE_HISTORY("s", true), CREATE("c", false), UPDATE("u", false), UPDATE_CREATES("cu", false),
    PATCH("ur", false), DELETE("d", false), CONDITIONAL_CREATE("crs", true), CONDITIONAL_UPDATE("us", false),
    CONDITIONAL_PATCH("urs", false), CONDITIONAL_DELETE("ds", false), BATCH_READ("r", true),
    BATCH_SEARCH("s", true), TRANSACTION_CREATE("c", false), TRANSACTION_UPDATE("u", false),
    TRANSACTION_UPDATE_CREATES("cu", false);

    final String needs;
    /** Aimed at the seeded resource (reads); otherwise at a fresh one, so writes change nothing shared. */
    final boolean onSeeded;

    Interaction(String needs, boolean onSeeded) {
      this.needs = needs;
      this.onSeeded = onSeeded;
    }
  }

  /** One row of the letter table. */
  record LetterCase(Kind kind, Interaction interaction, String context, String letters) {
    boolean expectAllowed() {
      boolean hasAll = interaction.needs.chars().allMatch(c -> letters.indexOf(c) >= 0);
      // History cannot be narrowed to one patient: user/ and system/ scopes only.
      return hasAll && !(context.equals("patient")
          && (interaction == Interaction.TYPE_HISTORY || interaction == Interaction.HISTORY));
    }

    String scope() {
      return context + "/" + kind.type() + "." + letters;
    }

    @Override
    public String toString() {
      return scope() + " " + interaction + " -> " + (expectAllowed() ? "allowed" : "403");
    }
  }

  static List<LetterCase> letterCases() {
    List<LetterCase> cases = new ArrayList<>();
    for (String context : List.of("user", "patient")) {
      for (Kind kind : Charts.KINDS) {
        for (Interaction interaction : Interaction.values()) {
          if (context.equals("patient") && kind.type().equals("Patient") && createsOrDeletes(interaction)) {
            // A patient token's compartment is its own Patient: it can neither make another nor delete itself here.
            continue;
          }
          for (String letters : scopeLetters(interaction.needs)) {
            cases.add(new LetterCase(kind, interaction, context, letters));
          }
        }
      }
    }
    return cases;
  }

  /**
   * Writes a patient/ token cannot make to Patient: creating another Patient or deleting its own;
   * a conditional create or update sends a Patient without an id, which HAPI checks (before the
   * match) as a new Patient outside the compartment.
   */
  static boolean createsOrDeletes(Interaction i) {
    return i.needs.contains("c") || i.needs.contains("d") || i == Interaction.CONDITIONAL_UPDATE;
  }

  /**
   * The letters needed (allowed), every other letter (refused), and each needed set less one
   * letter (refused); written in SMART's {@code cruds} order.
   */
  static Set<String> scopeLetters(String needs) {
    Set<String> sets = new LinkedHashSet<>();
    sets.add(cruds(needs));
    sets.add(cruds("cruds".replaceAll("[" + needs + "]", "")));
    if (needs.length() > 1) {
      for (int i = 0; i < needs.length(); i++) {
        sets.add(cruds(new StringBuilder(needs).deleteCharAt(i).toString()));
      }
    }
    return sets;
  }

  static String cruds(String letters) {
    return "cruds".chars().filter(c -> letters.indexOf(c) >= 0)
        .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
  }

  @TestFactory
  Stream<DynamicTest> eachLetterGrantsExactlyWhatTheReadmeSays() {
    return letterCases().stream().map(c -> dynamicTest(c.toString(), concurrently(() -> runLetterCase(c)))).toList().stream();
  }

  /**
   * Cases are independent, so they are sent a few at a time (the server is a real multi-threaded
   * one); each dynamic test still reports its own case.
   */
  Executable concurrently(Runnable check) {
    CompletableFuture<Void> future = CompletableFuture.runAsync(check, CLIENTS);
    started.add(future);
    return () -> {
      try {
        future.join();
      } catch (CompletionException e) {
        throw e.getCause();
      }
    };
  }

  static final ExecutorService CLIENTS = Executors.newFixedThreadPool(4);
  final List<CompletableFuture<Void>> started = new CopyOnWriteArrayList<>();

  void runLetterCase(LetterCase c) {
    String type = c.kind().type();
    boolean patientContext = c.context().equals("patient");
    String token = token(c.scope(), patientContext ? a.id("Patient") : null);
    String target;
    if (c.interaction().onSeeded || type.equals("Patient") && patientContext) {
      target = a.idPart(type);
    } else if (c.expectAllowed()) {
      target = createForA(c.kind());
    } else {
      target = a.idPart(type);
    }
    HttpResponse<String> response = send(c.interaction(), c.kind(), target, token);
    // Cases run four at a time and the patient-context writes of Patient all land on A's Patient:
    // a lost race (HAPI's version-constraint 409) is the harness's, not an authorization answer.
    for (int retry = 0; retry < 5 && versionConflict(response); retry++) {
      response = send(c.interaction(), c.kind(), target, token);
    }
    if (c.expectAllowed()) {
      assertThat(allowed(response)).as("%s: %s %s", c, response.statusCode(), response.body()).isTrue();
    } else {
      assertRefused(response, c.toString());
    }
  }

  static boolean versionConflict(HttpResponse<String> response) {
    return response.statusCode() == 409 && response.body().contains("HAPI-0550");
  }

  String createForA(Kind kind) {
    return createFor(a, kind);
  }

  String createFor(Chart chart, Kind kind) {
    HttpResponse<String> created = fhir.post(kind.type(), token(ADMIN, null), kind.make().apply(chart.owner()));
    assertThat(created.statusCode()).as(created.body()).isEqualTo(201);
    return new IdType(created.headers().firstValue("Location").orElseThrow()).getIdPart();
  }

  HttpResponse<String> send(Interaction interaction, Kind kind, String id, String token) {
    String type = kind.type();
    Resource body = kind.make().apply(a.owner());
    return switch (interaction) {
      case READ -> fhir.get(type + "/" + id, token);
      case VREAD -> fhir.get(type + "/" + id + "/_history/1", token);
      case SEARCH -> fhir.get(type + "?_id=" + id, token);
      case HISTORY -> fhir.get(type + "/" + id + "/_history", token);
      case TYPE_HISTORY -> fhir.get(type + "/_history", token);
      case CREATE -> fhir.post(type, token, body);
      case UPDATE -> fhir.put(type + "/" + id, token, body.setId(type + "/" + id));
      case UPDATE_CREATES -> {
        String fresh = "new-" + UUID.randomUUID();
        yield fhir.put(type + "/" + fresh, token, body.setId(type + "/" + fresh));
      }
      case PATCH -> fhir.send("PATCH", type + "/" + id, token, PATCH);
      case DELETE -> fhir.delete(type + "/" + id, token);
      case CONDITIONAL_CREATE -> fhir.send("POST", type, token, body, "If-None-Exist", "_id=" + id);
      case CONDITIONAL_UPDATE -> fhir.put(type + "?_id=" + id, token, body);
      case CONDITIONAL_PATCH -> fhir.send("PATCH", type + "?_id=" + id, token, PATCH);
      case CONDITIONAL_DELETE -> fhir.delete(type + "?_id=" + id, token);
      case BATCH_READ -> fhir.post("", token, bundle(Bundle.BundleType.BATCH, Bundle.HTTPVerb.GET, type + "/" + id, null));
      case BATCH_SEARCH -> fhir.post("", token, bundle(Bundle.BundleType.BATCH, Bundle.HTTPVerb.GET, type + "?_id=" + id, null));
      case TRANSACTION_CREATE -> fhir.post("", token, bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.POST, type, body));
      case TRANSACTION_UPDATE -> fhir.post("", token, bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.PUT,
          type + "/" + id, body.setId(type + "/" + id)));
      case TRANSACTION_UPDATE_CREATES -> {
        String fresh = "new-" + UUID.randomUUID();
        yield fhir.post("", token, bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.PUT, type + "/" + fresh,
            body.setId(type + "/" + fresh)));
      }
    };
  }

  static Bundle bundle(Bundle.BundleType type, Bundle.HTTPVerb method, String url, Resource resource) {
    Bundle bundle = new Bundle().setType(type);
    Bundle.BundleEntryComponent entry = bundle.addEntry();
    if (resource != null) {
      entry.setResource(resource).setFullUrl(method == Bundle.HTTPVerb.POST ? "urn:uuid:" + UUID.randomUUID()
          : resource.getIdElement().getValue());
    }
    entry.getRequest().setMethod(method).setUrl(url);
    return bundle;
  }

  /** 2xx, and for a batch or transaction every entry 2xx. */
  static boolean allowed(HttpResponse<String> response) {
    if (response.statusCode() < 200 || response.statusCode() > 299) {
      return false;
    }
    IBaseResource body = response.body().isBlank() ? null : FHIR.newJsonParser().parseResource(response.body());
    if (body instanceof Bundle bundle && bundle.getType().toCode().endsWith("-response")) {
      return bundle.getEntry().stream().allMatch(e -> e.getResponse().getStatus().startsWith("2"));
    }
    return true;
  }

  /** 403 with an OperationOutcome, or a batch whose entries are all 403. */
  static void assertRefused(HttpResponse<String> response, String what) {
    IBaseResource body = FHIR.newJsonParser().parseResource(response.body());
    if (response.statusCode() == 200 && body instanceof Bundle bundle && bundle.getType() == Bundle.BundleType.BATCHRESPONSE) {
      assertThat(bundle.getEntry()).as("%s: %s", what, response.body())
          .allSatisfy(e -> assertThat(e.getResponse().getStatus()).startsWith("403"));
      return;
    }
    assertThat(response.statusCode()).as("%s: %s", what, response.body()).isEqualTo(403);
    assertThat(body).isInstanceOf(OperationOutcome.class);
  }

  // ---- 2. a token for patient A gets no byte and no count of patient B -------------------------

  /** A request aimed at one id (or marker): sent with B's and with one that exists nowhere. */
  record Probe(String name, Kind kind, String token, ProbeRequest request) {
    @Override
    public String toString() {
      return kind + " " + name;
    }
  }

  @FunctionalInterface
  interface ProbeRequest {
    HttpResponse<String> send(FhirHttp fhir, String token, String id, String marker, String patientId);
  }

  /** The token contexts of a patient app: patient scopes only, and patient scopes next to a user/ one. */
  static final List<String> PATIENT_APP_SCOPES = List.of("patient/*.cruds", "patient/*.cruds user/Practitioner.rs");

  List<Probe> probes() {
    List<Probe> probes = new ArrayList<>();
    for (String scopes : PATIENT_APP_SCOPES) {
      String t = token(scopes, a.id("Patient"));
      String ctx = "[" + scopes + "]";
      for (Kind kind : Charts.KINDS) {
        String type = kind.type();
        Resource mine = kind.make().apply(a.owner());
        probes.add(new Probe(ctx + " read", kind, t, (f, tk, id, m, p) -> f.get(type + "/" + id, tk)));
        probes.add(new Probe(ctx + " vread", kind, t, (f, tk, id, m, p) -> f.get(type + "/" + id + "/_history/1", tk)));
        probes.add(new Probe(ctx + " history", kind, t, (f, tk, id, m, p) -> f.get(type + "/" + id + "/_history", tk)));
        probes.add(new Probe(ctx + " search _id", kind, t,
            (f, tk, id, m, p) -> f.get(type + "?_id=" + id + "&_total=accurate", tk)));
        probes.add(new Probe(ctx + " search _content", kind, t,
            (f, tk, id, m, p) -> f.get(type + "?_content=" + m + "&_total=accurate", tk)));
        probes.add(new Probe(ctx + " search _summary=count", kind, t,
            (f, tk, id, m, p) -> f.get(type + "?_id=" + id + "&_summary=count", tk)));
        probes.add(new Probe(ctx + " search _has", kind, t, (f, tk, id, m, p) ->
            f.get("Patient?_has:Observation:subject:_id=" + (type.equals("Observation") ? id : p) + "&_total=accurate", tk)));
        if (kind.patientParam() != null) {
          probes.add(new Probe(ctx + " search by patient", kind, t,
              (f, tk, id, m, p) -> f.get(type + "?" + kind.patientParam() + "=Patient/" + p + "&_total=accurate", tk)));
          probes.add(new Probe(ctx + " chained search", kind, t, (f, tk, id, m, p) ->
              f.get(type + "?" + kind.patientParam() + ":Patient.name=" + m + "&_total=accurate", tk)));
          probes.add(new Probe(ctx + " _include", kind, t, (f, tk, id, m, p) ->
              f.get(type + "?_id=" + id + "&_include=" + type + ":" + kind.patientParam(), tk)));
          probes.add(new Probe(ctx + " _revinclude", kind, t, (f, tk, id, m, p) ->
              f.get("Patient?_id=" + p + "&_revinclude=" + type + ":" + kind.patientParam(), tk)));
        }
        probes.add(new Probe(ctx + " conditional create", kind, t, (f, tk, id, m, p) ->
            f.send("POST", type, tk, mine.copy(), "If-None-Exist", "_id=" + id)));
        probes.add(new Probe(ctx + " conditional update", kind, t,
            (f, tk, id, m, p) -> f.put(type + "?_id=" + id, tk, mine.copy())));
        probes.add(new Probe(ctx + " conditional patch", kind, t,
            (f, tk, id, m, p) -> f.send("PATCH", type + "?_id=" + id, tk, PATCH)));
        probes.add(new Probe(ctx + " delete by id", kind, t, (f, tk, id, m, p) -> f.delete(type + "/" + id, tk)));
        probes.add(new Probe(ctx + " conditional delete", kind, t, (f, tk, id, m, p) -> f.delete(type + "?_id=" + id, tk)));
        probes.add(new Probe(ctx + " conditional delete by marker", kind, t,
            (f, tk, id, m, p) -> f.delete(type + "?_content=" + m, tk)));
        probes.add(new Probe(ctx + " batch read + search", kind, t, (f, tk, id, m, p) -> {
          Bundle batch = bundle(Bundle.BundleType.BATCH, Bundle.HTTPVerb.GET, type + "/" + id, null);
          batch.addEntry().getRequest().setMethod(Bundle.HTTPVerb.GET).setUrl(type + "?_id=" + id + "&_total=accurate");
          return f.post("", tk, batch);
        }));
        probes.add(new Probe(ctx + " transaction conditional create", kind, t, (f, tk, id, m, p) -> {
          Bundle tx = bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.POST, type, mine.copy());
          tx.getEntryFirstRep().getRequest().setIfNoneExist("_id=" + id);
          return f.post("", tk, tx);
        }));
        probes.add(new Probe(ctx + " transaction conditional delete", kind, t, (f, tk, id, m, p) ->
            f.post("", tk, bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.DELETE, type + "?_id=" + id, null))));
        probes.add(new Probe(ctx + " $everything", kind, t,
            (f, tk, id, m, p) -> f.get("Patient/" + p + "/$everything", tk)));
        probes.add(new Probe(ctx + " $meta", kind, t, (f, tk, id, m, p) -> f.get(type + "/" + id + "/$meta", tk)));
        probes.add(new Probe(ctx + " type history", kind, t, (f, tk, id, m, p) -> f.get(type + "/_history", tk)));
        probes.add(new Probe(ctx + " system search", kind, t,
            (f, tk, id, m, p) -> f.get("?_type=" + type + "&_id=" + id, tk)));
      }
    }
    return probes;
  }

  @TestFactory
  Stream<DynamicTest> patientATokenGetsNoByteAndNoCountOfPatientB() {
    List<DynamicTest> tests = new ArrayList<>();
    for (Probe probe : probes()) {
      tests.add(dynamicTest(probe.toString(), concurrently(() -> runProbe(probe))));
    }
    tests.add(dynamicTest("paging: following every next link of A's searches shows none of B", this::pageThroughEverything));
    tests.add(dynamicTest("B's record is unchanged after all probes", () -> {
      CompletableFuture.allOf(started.toArray(CompletableFuture[]::new)).exceptionally(e -> null).join();
      bIsUntouched();
    }));
    return tests.stream();
  }

  void runProbe(Probe probe) {
    String type = probe.kind().type();
    String nowhereMarker = Charts.newMarker("X");
    HttpResponse<String> aimedAtB = probe.request().send(fhir, probe.token(), b.idPart(type), b.marker(),
        b.idPart("Patient"));
    HttpResponse<String> aimedNowhere = probe.request().send(fhir, probe.token(), NOWHERE, nowhereMarker, NOWHERE);
    assertNoTraceOfB(aimedAtB, b.idPart(type), b.idPart("Patient"));
    assertNoTraceOfB(aimedNowhere, null, null);
    assertThat(shape(aimedAtB, b.idPart(type), b.idPart("Patient"), b.marker()))
        .as("%s: answer about B's data (%s) vs about nothing (%s)", probe, aimedAtB.body(), aimedNowhere.body())
        .isEqualTo(shape(aimedNowhere, NOWHERE, NOWHERE, nowhereMarker));
  }

  /**
   * No marker of B, and no id of B, except where the request itself sent it (a search's
   * {@code self} link and an outcome naming the match URL echo the request).
   */
  void assertNoTraceOfB(HttpResponse<String> response, String sentId, String sentPatient) {
    String body = response.body() + response.headers().map();
    String uri = java.net.URLDecoder.decode(response.request().uri().toString(), java.nio.charset.StandardCharsets.UTF_8);
    if (uri.contains(b.marker())) {
      body = body.replace(b.marker(), "SENT");
    }
    assertThat(body).as("B's marker in %s", body).doesNotContain(b.marker());
    for (Map.Entry<String, String> id : b.ids().entrySet()) {
      String idPart = new IdType(id.getValue()).getIdPart();
      if (idPart.equals(sentId) || idPart.equals(sentPatient)) {
        continue;
      }
      assertThat(body).as("B's %s in %s", id.getValue(), body).doesNotContain(id.getValue());
    }
  }

  /**
   * What a client can tell from an answer besides ids it sent: the status, and for a bundle its
   * type, total and each entry's status and resource type, else the outcome's message.
   */
  static String shape(HttpResponse<String> response, String sentId, String sentPatient, String sentMarker) {
    String body = mask(response.body(), sentId, sentPatient).replace(sentMarker, "SENT");
    StringBuilder shape = new StringBuilder().append(response.statusCode());
    if (body.isBlank()) {
      return shape.toString();
    }
    IBaseResource resource = FHIR.newJsonParser().parseResource(body);
    if (resource instanceof Bundle bundle) {
      shape.append(" ").append(bundle.getType()).append(" total=").append(bundle.hasTotal() ? bundle.getTotal() : "-");
      for (Bundle.BundleEntryComponent e : bundle.getEntry()) {
        shape.append(" [").append(e.getResponse().getStatus()).append(" ")
            .append(e.hasResource() ? e.getResource().fhirType() : "-");
        if (e.getResponse().getOutcome() instanceof OperationOutcome o) {
          shape.append(" ").append(diagnostics(o));
        }
        shape.append("]");
      }
    } else if (resource instanceof OperationOutcome outcome) {
      shape.append(" ").append(diagnostics(outcome));
    } else {
      shape.append(" ").append(resource.fhirType());
    }
    return shape.toString();
  }

  static String diagnostics(OperationOutcome outcome) {
    // Durations and generated ids in HAPI's messages differ between any two calls.
    // An issue may carry only a coded detail and no diagnostics.
    return outcome.getIssue().stream().map(i -> i.getSeverity() + ":" + i.getCode() + ":"
            + (i.hasDiagnostics() ? i.getDiagnostics() : i.getDetails().getText() + " " + i.getDetails().getCodingFirstRep().getCode())
                .replaceAll("\\d+ms", "Nms").replaceAll("/[0-9]+(/_history/[0-9]+)?", "/N"))
        .collect(Collectors.joining(";"));
  }

  static String mask(String body, String sentId, String sentPatient) {
    String masked = body;
    for (String id : new String[] {sentId, sentPatient}) {
      if (id != null) {
        masked = masked.replaceAll("(?<![A-Za-z0-9])" + Pattern.quote(id) + "(?![A-Za-z0-9])", "SENT");
      }
    }
    return masked;
  }

  void pageThroughEverything() {
    for (String scopes : PATIENT_APP_SCOPES) {
      String t = token(scopes, a.id("Patient"));
      for (Kind kind : Charts.KINDS) {
        String next = kind.type() + "?_count=1";
        int pages = 0;
        while (next != null && pages++ < 50) {
          HttpResponse<String> page = fhir.get(next, t);
          assertThat(page.statusCode()).as(page.body()).isEqualTo(200);
          assertNoTraceOfB(page, null, null);
          Bundle bundle = FhirHttp.parse(page, Bundle.class);
          assertThat(bundle.getEntry()).isNotEmpty();
          Bundle.BundleLinkComponent link = bundle.getLink("next");
          next = link == null ? null : link.getUrl().substring(fhir.base().length()).replaceFirst("^/", "");
        }
        assertThat(pages).as("%s pages", kind).isGreaterThan(0).isLessThan(50);
      }
    }
  }

  void bIsUntouched() {
    for (String id : b.ids().values()) {
      HttpResponse<String> stored = fhir.get(id, token(ADMIN, null));
      assertThat(stored.statusCode()).as(stored.body()).isEqualTo(200);
      Resource resource = (Resource) FHIR.newJsonParser().parseResource(stored.body());
      assertThat(resource.getMeta().getVersionId()).as(id).isEqualTo("1");
      assertThat(stored.body()).contains(b.marker());
    }
  }

  // ---- 3. patient-scoped writes may not reference another patient ------------------------------

  /** A write path, given the resource (already pointing at B) and A's existing id of its type. */
  @FunctionalInterface
  interface WritePath {
    HttpResponse<String> send(FhirHttp fhir, String token, Resource resource, String existingId);
  }

  static final Map<String, WritePath> WRITE_PATHS = Map.of(
      "create", (f, t, r, id) -> f.post(r.fhirType(), t, r),
      "update", (f, t, r, id) -> f.put(r.fhirType() + "/" + id, t, r.setId(r.fhirType() + "/" + id)),
      "conditional update", (f, t, r, id) -> f.put(r.fhirType() + "?_id=" + id, t, r),
      "transaction create", (f, t, r, id) ->
          f.post("", t, bundle(Bundle.BundleType.TRANSACTION, Bundle.HTTPVerb.POST, r.fhirType(), r)),
      "batch update", (f, t, r, id) -> f.post("", t, bundle(Bundle.BundleType.BATCH, Bundle.HTTPVerb.PUT,
          r.fhirType() + "/" + id, r.setId(r.fhirType() + "/" + id))),
      "patch", (f, t, r, id) -> f.send("PATCH", r.fhirType() + "/" + id, t,
          "[{\"op\":\"add\",\"path\":\"/extension\",\"value\":[{\"url\":\"https://medgemma-fhir.dev/test/also-about\","
              + "\"valueReference\":{\"reference\":\""
              + ((Reference) ((DomainResource) r).getExtensionByUrl("https://medgemma-fhir.dev/test/also-about").getValue())
                  .getReference() + "\"}}]}]"));

  @TestFactory
  Stream<DynamicTest> patientScopedWritesStayInTheirPatientsRecord() {
    List<DynamicTest> tests = new ArrayList<>();
    for (Kind kind : Charts.KINDS) {
      for (String path : new TreeSet<>(WRITE_PATHS.keySet())) {
        for (String foreign : List.of("Patient", "Encounter")) {
          if (kind.type().equals("Patient") && (path.contains("create"))) {
            continue;
          }
          tests.add(dynamicTest(kind + " " + path + " referencing B's " + foreign + ": patient/ 403, user/ allowed",
              concurrently(() -> writeReferencingB(kind, path, foreign))));
        }
      }
    }
    return tests.stream();
  }

  void writeReferencingB(Kind kind, String path, String foreign) {
    String type = kind.type();
    String patientToken = token("patient/*.cruds", a.id("Patient"));
    String existing = type.equals("Patient") ? a.idPart("Patient") : createForA(kind);
    HttpResponse<String> refused = WRITE_PATHS.get(path).send(fhir, patientToken, alsoAboutB(a, kind, foreign), existing);
    assertRefused(refused, type + " " + path);
    String version = versionOf(type + "/" + existing);

    // The same write by a user/ token goes through (into C's record, so A's stays free of B's ids).
    String userToken = token("user/" + type + ".cruds", null);
    HttpResponse<String> allowedForUser = WRITE_PATHS.get(path).send(fhir, userToken, alsoAboutB(c, kind, foreign),
        createFor(c, kind));
    assertThat(allowed(allowedForUser)).as(allowedForUser.body()).isTrue();
    if (type.equals("Patient")) {
      assertThat(versionOf(type + "/" + existing)).as("A's Patient was not changed by the refused write")
          .isEqualTo(version);
    } else {
      assertThat(version).as("the refused write changed nothing").isEqualTo("1");
    }
  }

  String versionOf(String id) {
    HttpResponse<String> stored = fhir.get(id, token(ADMIN, null));
    return ((Resource) FHIR.newJsonParser().parseResource(stored.body())).getMeta().getVersionId();
  }

  Resource alsoAboutB(Chart owner, Kind kind, String foreign) {
    Resource resource = kind.make().apply(owner.owner());
    ((DomainResource) resource).addExtension("https://medgemma-fhir.dev/test/also-about", new Reference(b.id(foreign)));
    return resource;
  }

  private static TestIssuer startIssuer() {
    try {
      return new TestIssuer();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
