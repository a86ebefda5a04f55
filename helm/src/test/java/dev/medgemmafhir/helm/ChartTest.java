package dev.medgemmafhir.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.marcnuri.helm.LintResult;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class ChartTest {
  private static final String ISSUER = "https://auth.example.org/realms/fhir";
  private static final String AUDIENCE = "https://fhir.example.org/fhir";
  private static final Map<String, Object> WITH_ISSUER = Map.of("security.issuer", ISSUER, "security.audience", AUDIENCE);
  private static final String FULLNAME = "mf-medgemma-fhir";
  private static final Pattern SECRET_NAME = Pattern.compile("(?i).*(PASSWORD|TOKEN|SECRET|CREDENTIAL).*");

  @TempDir Path scratch;

  static Stream<Path> ciValues() throws IOException {
    try (Stream<Path> files = Files.list(RenderedChart.CHART.resolve("ci"))) {
      List<Path> list = files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList();
      assertTrue(list.size() >= 6, "ci/ should hold one values file per feature");
      return list.stream();
    }
  }

  // ---- every scenario: lint, strict parse, invariants ---------------------------------------

  @Test
  void defaultValuesWithAnIssuerLintAndRender() throws IOException {
    LintResult lint = RenderedChart.lint(null, WITH_ISSUER, scratch);
    assertFalse(lint.isFailed(), "lint: " + lint.getMessages());
    checkInvariants(RenderedChart.render(null, WITH_ISSUER));
    checkTestPod(RenderedChart.renderTestHook(null, WITH_ISSUER, scratch));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("ciValues")
  void everyCiValuesFileLintsAndRendersToValidManifests(Path values) throws IOException {
    LintResult lint = RenderedChart.lint(values, Map.of(), scratch);
    assertFalse(lint.isFailed(), values.getFileName() + " lint: " + lint.getMessages());
    checkInvariants(RenderedChart.render(values, Map.of()));
    checkTestPod(RenderedChart.renderTestHook(values, Map.of(), scratch));
  }

  /** The `helm test` pod calls /fhir/metadata on the Service and is as locked down as the server. */
  private void checkTestPod(RenderedChart chart) {
    Pod test = chart.one(Pod.class);
    assertEquals("Never", test.getSpec().getRestartPolicy());
    Container c = test.getSpec().getContainers().get(0);
    assertHardenedExceptUser(c);
    assertEquals(Boolean.TRUE, test.getSpec().getSecurityContext().getRunAsNonRoot());
    String service = chart.one(Service.class).getMetadata().getName();
    assertTrue(String.join(" ", c.getArgs()).contains("http://" + service + ":8080/fhir/metadata"), c.getArgs().toString());
    assertTrue(c.getImage().matches(".+:[0-9][^:]*"), "test image must be pinned: " + c.getImage());
  }

  /** What must hold whatever the values. */
  private void checkInvariants(RenderedChart chart) throws IOException {
    assertTrue(chart.all(io.fabric8.kubernetes.api.model.Secret.class).isEmpty(),
        "the chart takes secrets by reference and must never create one");
    Deployment deployment = chart.one(Deployment.class);
    PodSpec pod = deployment.getSpec().getTemplate().getSpec();
    assertEquals(Boolean.TRUE, pod.getSecurityContext().getRunAsNonRoot());
    assertEquals("RuntimeDefault", pod.getSecurityContext().getSeccompProfile().getType());
    assertEquals(Boolean.FALSE, pod.getAutomountServiceAccountToken());
    for (Container c : allContainers(pod)) {
      assertHardened(c);
      assertNoInlineSecrets(c);
    }
    Container server = server(deployment);
    assertProbe(server.getStartupProbe(), "/livez");
    assertProbe(server.getLivenessProbe(), "/livez");
    assertProbe(server.getReadinessProbe(), "/readyz");
    // Model loading can take minutes: the start-up probe must allow at least five.
    Probe startup = server.getStartupProbe();
    assertTrue(startup.getPeriodSeconds() * startup.getFailureThreshold() >= 300, "start-up probe too short for model loading");
    assertEquals(8080, server.getPorts().get(0).getContainerPort());
    // /actuator/* on its own port, so an ingress on the FHIR port never publishes metrics; the
    // probes (/livez, /readyz: Spring's additional paths on the main port) stay on "http".
    int management = chart.applicationYaml().path("management").path("server").path("port").asInt();
    assertEquals(9090, management);
    assertEquals(management, server.getPorts().stream().filter(p -> "management".equals(p.getName()))
        .findFirst().orElseThrow().getContainerPort());
    VolumeMount models = mount(server, "/models");
    assertEquals(Boolean.TRUE, models.getReadOnly(), "the server must not be able to write the model volume");
    mount(server, "/tmp");
    assertEquals("optional:file:/config/", env(server, "SPRING_CONFIG_ADDITIONAL_LOCATION").getValue());
    mount(server, "/config");

    boolean gpu = pod.getRuntimeClassName() != null;
    for (Container c : allContainers(pod)) {
      assertEquals(gpu && c == server, hasGpu(c), "GPU resources on " + c.getName());
    }

    Service service = chart.one(Service.class);
    assertEquals(deployment.getSpec().getSelector().getMatchLabels(), service.getSpec().getSelector());
    assertEquals("http", service.getSpec().getPorts().get(0).getTargetPort().getStrVal());
    assertEquals(List.of("http", "management"), service.getSpec().getPorts().stream()
        .map(p -> p.getTargetPort().getStrVal()).toList());

    assertTrue(chart.all(Pod.class).isEmpty(), "the only bare Pod is the helm test hook");

    JsonNode app = chart.applicationYaml();
    JsonNode medgemma = app.path("medgemma");
    String modelId = medgemma.path("operations").path("summarize").path("model").asText();
    assertFalse(modelId.isEmpty());
    assertTrue(medgemma.path("models").path(modelId).path("path").asText().startsWith("/models/"));
    assertEquals(modelId, medgemma.path("operations").path("draft-report").path("model").asText());
    assertEquals(modelId, medgemma.path("operations").path("ask").path("model").asText());
    assertEquals(gpu ? "cuda" : "cpu", env(server, "MEDGEMMA_ENGINE_EXECUTION_PROVIDER").getValue());
  }

  // ---- features ------------------------------------------------------------------------------

  @Test
  void defaultsRunOnCpuWithoutPullOrGpuAndWarnAboutH2() throws IOException {
    RenderedChart chart = RenderedChart.render(null, WITH_ISSUER);
    Deployment d = chart.one(Deployment.class);
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    assertTrue(pod.getInitContainers().isEmpty(), "no model.repo, so no pull");
    assertNull(pod.getRuntimeClassName());
    assertTrue(pod.getNodeSelector() == null || pod.getNodeSelector().isEmpty());
    assertFalse(chart.text.contains("nodeSelector"));
    assertEquals("Recreate", d.getSpec().getStrategy().getType(), "H2 cannot be shared by two pods");
    assertEquals(1, d.getSpec().getReplicas());
    assertTrue(server(d).getImage().endsWith(":0.1.0"), server(d).getImage());
    assertEquals(Set.of("ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment"),
        chart.kinds().keySet());
    JsonNode security = chart.applicationYaml().path("medgemma").path("security");
    assertTrue(security.path("enabled").asBoolean());
    assertEquals(ISSUER, security.path("issuer").asText());
    assertTrue(chart.applicationYaml().path("spring").isMissingNode(), "no PostgreSQL settings for H2");
    JsonNode model = chart.applicationYaml().path("medgemma").path("models").elements().next();
    assertEquals(2, model.path("concurrency").asInt(), "two generations at once by default");
    assertTrue(model.path("prefill-chunk").isMissingNode(), "prefillChunk 0 leaves the engine's default");
    assertTrue(model.path("kv-cache-budget").isMissingNode(), "an empty kvCacheBudget leaves the engine's default");
  }

  @Test
  void gpuValuesRequestTheGpuAndPullTheModel() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("gpu-values.yaml"), Map.of());
    Deployment d = chart.one(Deployment.class);
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    Container server = server(d);
    assertEquals(new Quantity("1"), server.getResources().getLimits().get("nvidia.com/gpu"));
    assertEquals(new Quantity("16Gi"), server.getResources().getLimits().get("memory"), "GPU limit must not drop memory limit");
    assertEquals("nvidia", pod.getRuntimeClassName());
    assertEquals("true", pod.getNodeSelector().get("nvidia.com/gpu.present"));
    assertTrue(pod.getTolerations().stream().anyMatch(t -> "nvidia.com/gpu".equals(t.getKey())));
    assertTrue(server.getImage().endsWith(":0.1.0-cuda"), server.getImage());
    assertEquals(0, d.getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal(),
        "a surge pod would wait for a GPU that the old pod holds");

    Container pull = pod.getInitContainers().get(0);
    assertEquals("pull-model", pull.getName());
    assertEquals(List.of("java", "-jar", "/app/medgemma-cli.jar", "models", "pull"), pull.getCommand());
    assertEquals(List.of("onnx-community/gemma-3-1b-it-ONNX", "--revision=main", "--dtype=q4", "--to=/models/medgemma-4b-it"),
        pull.getArgs());
    EnvVar token = env(pull, "HF_TOKEN");
    assertNull(token.getValue());
    assertEquals("hf-token", token.getValueFrom().getSecretKeyRef().getName());
    assertFalse(Boolean.TRUE.equals(mount(pull, "/models").getReadOnly()), "the pull writes the model volume");
    assertEquals(server.getImage(), pull.getImage());

    JsonNode model = chart.applicationYaml().path("medgemma").path("models").path("medgemma-4b-it");
    assertEquals(8, model.path("concurrency").asInt(), "the batch size reaches the server");
    assertEquals(16, model.path("max-queue").asInt());
    assertEquals("8GB", model.path("kv-cache-budget").asText());
    assertEquals(2048, model.path("prefill-chunk").asInt(), "the prefill chunk reaches the server");

    EnvVar password = env(server, "SPRING_DATASOURCE_PASSWORD");
    assertEquals("medgemma-db", password.getValueFrom().getSecretKeyRef().getName());
    assertEquals("password", password.getValueFrom().getSecretKeyRef().getKey());
    assertEquals("jdbc:postgresql://postgres.db.svc:5432/medgemma", env(server, "SPRING_DATASOURCE_URL").getValue());
    assertEquals("ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect",
        chart.applicationYaml().path("spring").path("jpa").path("properties").path("hibernate.dialect").asText());
  }

  @Test
  void cnpgValuesCreateAClusterAndReadItsGeneratedSecret() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("cnpg-values.yaml"), Map.of());
    GenericKubernetesResource cluster = chart.custom("Cluster").get(0);
    String name = cluster.getMetadata().getName();
    Map<String, Object> spec = cluster.get("spec");
    assertEquals(3, ((Number) spec.get("instances")).intValue());
    assertEquals("50Gi", cluster.get("spec", "storage", "size"));
    assertEquals("medgemma", cluster.get("spec", "bootstrap", "initdb", "database"));
    assertEquals("medgemma", cluster.get("spec", "bootstrap", "initdb", "owner"));

    Container server = server(chart.one(Deployment.class));
    assertEquals("jdbc:postgresql://" + name + "-rw:5432/medgemma", env(server, "SPRING_DATASOURCE_URL").getValue());
    assertEquals(name + "-app", env(server, "SPRING_DATASOURCE_PASSWORD").getValueFrom().getSecretKeyRef().getName());
    assertEquals(name + "-app", env(server, "SPRING_DATASOURCE_USERNAME").getValueFrom().getSecretKeyRef().getName());
    assertEquals(2, chart.one(Deployment.class).getSpec().getReplicas());
  }

  @Test
  void hpaAndPdbTargetTheDeployment() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("hpa-pdb-values.yaml"), Map.of());
    Deployment d = chart.one(Deployment.class);
    assertNull(d.getSpec().getReplicas(), "the HPA owns the replica count");
    HorizontalPodAutoscaler hpa = chart.one(HorizontalPodAutoscaler.class);
    assertEquals(d.getMetadata().getName(), hpa.getSpec().getScaleTargetRef().getName());
    assertEquals(2, hpa.getSpec().getMinReplicas());
    assertEquals(6, hpa.getSpec().getMaxReplicas());
    assertEquals(70, hpa.getSpec().getMetrics().get(0).getResource().getTarget().getAverageUtilization());
    PodDisruptionBudget pdb = chart.one(PodDisruptionBudget.class);
    assertEquals(1, pdb.getSpec().getMinAvailable().getIntVal());
    assertEquals(d.getSpec().getSelector().getMatchLabels(), pdb.getSpec().getSelector().getMatchLabels());
    assertEquals(List.of("ReadWriteMany"), chart.one(PersistentVolumeClaim.class).getSpec().getAccessModes());
    assertEquals("username",
        env(server(d), "SPRING_DATASOURCE_USERNAME").getValueFrom().getSecretKeyRef().getKey());
  }

  @Test
  void ingressRoutesToTheServicePort() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("ingress-values.yaml"), Map.of());
    Ingress ingress = chart.one(Ingress.class);
    var rule = ingress.getSpec().getRules().get(0);
    assertEquals("fhir.example.org", rule.getHost());
    var backend = rule.getHttp().getPaths().get(0).getBackend().getService();
    assertEquals(chart.one(Service.class).getMetadata().getName(), backend.getName());
    assertEquals("http", backend.getPort().getName());
    assertEquals("fhir-example-org-tls", ingress.getSpec().getTls().get(0).getSecretName());
    assertEquals("nginx", ingress.getSpec().getIngressClassName());
  }

  @Test
  void securityOffMustBeExplicitAndIsWrittenToTheConfig() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("security-off-values.yaml"), Map.of());
    JsonNode security = chart.applicationYaml().path("medgemma").path("security");
    assertFalse(security.path("enabled").asBoolean(true));
    assertTrue(security.path("issuer").isMissingNode());
  }

  @Test
  void networkPolicyAdmitsOnlyTheConfiguredPeersAndTheDatabasePort() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("networkpolicy-values.yaml"), Map.of());
    NetworkPolicy policy = chart.one(NetworkPolicy.class);
    Deployment d = chart.one(Deployment.class);
    assertEquals(d.getSpec().getSelector().getMatchLabels(), policy.getSpec().getPodSelector().getMatchLabels());
    assertEquals("integration", policy.getSpec().getIngress().get(0).getFrom().get(0)
        .getNamespaceSelector().getMatchLabels().get("kubernetes.io/metadata.name"));
    assertTrue(policy.getSpec().getEgress().stream().flatMap(e -> e.getPorts().stream())
        .anyMatch(p -> p.getPort().getIntVal() != null && p.getPort().getIntVal() == 5433));
    assertEquals(List.of("Ingress", "Egress"), policy.getSpec().getPolicyTypes());
    // The management port (metrics) has its own rule: not opened to the FHIR API's peers by accident.
    assertEquals("management", policy.getSpec().getIngress().get(1).getPorts().get(0).getPort().getStrVal());
    assertEquals("monitoring", policy.getSpec().getIngress().get(1).getFrom().get(0)
        .getNamespaceSelector().getMatchLabels().get("kubernetes.io/metadata.name"));
  }

  @Test
  void serviceMonitorScrapesPrometheusOnTheManagementPort() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("servicemonitor-values.yaml"), Map.of());
    GenericKubernetesResource monitor = chart.custom("ServiceMonitor").get(0);
    List<Map<String, Object>> endpoints = monitor.get("spec", "endpoints");
    assertEquals("management", endpoints.get(0).get("port"));
    assertEquals("/actuator/prometheus", endpoints.get(0).get("path"));
    assertEquals(chart.one(Service.class).getMetadata().getLabels().get("app.kubernetes.io/name"),
        monitor.get("spec", "selector", "matchLabels", "app.kubernetes.io/name"));
    assertEquals("kube-prometheus-stack", monitor.getMetadata().getLabels().get("release"));
  }

  @Test
  void convertValuesPullGooglesCheckpointAndConvertItInTheInitContainer() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("convert-values.yaml"), Map.of());
    Deployment d = chart.one(Deployment.class);
    Container pull = d.getSpec().getTemplate().getSpec().getInitContainers().get(0);
    assertEquals(List.of("google/medgemma-4b-it", "--revision=main", "--convert=q4", "--attention=fused", "--to=/models/medgemma-4b-it"),
        pull.getArgs(), "a checkpoint is converted, so no --dtype of an ONNX export; fused attention by default");
    Container standard = RenderedChart.render(ci("convert-values.yaml"), Map.of("model.pull.attention", "standard"))
        .one(Deployment.class).getSpec().getTemplate().getSpec().getInitContainers().get(0);
    assertTrue(standard.getArgs().contains("--attention=standard"));
    assertEquals(new Quantity("2Gi"), pull.getResources().getLimits().get("memory"));
    assertEquals("/models/medgemma-4b-it",
        chart.applicationYaml().path("medgemma").path("models").path("medgemma-4b-it").path("path").asText(),
        "the server runs the converted directory");
    assertThrows(RuntimeException.class,
        () -> RenderedChart.render(ci("convert-values.yaml"), Map.of("model.pull.convert", "fp16")),
        "the schema refuses a dtype the converter refuses");
    assertThrows(RuntimeException.class,
        () -> RenderedChart.render(ci("convert-values.yaml"), Map.of("model.pull.attention", "flash")),
        "the schema refuses an attention the converter does not know");
  }

  @Test
  void anExistingClaimWithoutPullCreatesNoVolumeAndNoInitContainer() throws IOException {
    RenderedChart chart = RenderedChart.render(ci("existing-model-values.yaml"), Map.of());
    assertTrue(chart.all(PersistentVolumeClaim.class).isEmpty());
    PodSpec pod = chart.one(Deployment.class).getSpec().getTemplate().getSpec();
    assertTrue(pod.getInitContainers().isEmpty());
    Volume models = pod.getVolumes().stream().filter(v -> v.getName().equals("models")).findFirst().orElseThrow();
    assertEquals("models-nfs", models.getPersistentVolumeClaim().getClaimName());
    EnvVar issuer = env(server(chart.one(Deployment.class)), "MEDGEMMA_SECURITY_ISSUER");
    assertEquals("smart-issuer", issuer.getValueFrom().getSecretKeyRef().getName());
    JsonNode medgemma = chart.applicationYaml().path("medgemma");
    assertEquals("/models/medgemma-27b-text-q4", medgemma.path("models").path("medgemma-27b-text").path("path").asText());
    assertEquals(8, medgemma.path("engine").path("intra-op-threads").asInt());
    // int8 compute for 4-bit weights unless told otherwise.
    assertEquals(4, medgemma.path("engine").path("q4-accuracy-level").asInt());
  }

  @Test
  void q4WeightsAsExportedArePassedToTheServer() throws IOException {
    RenderedChart chart = RenderedChart.render(null, Map.of("security.issuer", ISSUER, "security.audience", AUDIENCE, "engine.q4AccuracyLevel", -1));
    assertEquals(-1, chart.applicationYaml().path("medgemma").path("engine").path("q4-accuracy-level").asInt());
  }

  @Test
  void mcpCdsHooksAndAutomaticDraftingAreSwitches() throws IOException {
    JsonNode defaults = RenderedChart.render(null, WITH_ISSUER).applicationYaml().path("medgemma");
    assertTrue(defaults.path("mcp").path("enabled").asBoolean());
    assertTrue(defaults.path("cds-hooks").path("enabled").asBoolean());
    assertEquals("/review/", defaults.path("cds-hooks").path("review-url").asText());
    assertFalse(defaults.path("auto-draft").path("enabled").asBoolean(true), "automatic drafting is off by default");
    assertTrue(defaults.path("transparency").path("store-prompts").asBoolean(false), "prompts are stored by default");

    Map<String, Object> sets = new java.util.HashMap<>(WITH_ISSUER);
    sets.putAll(Map.of("mcp.enabled", false, "cdsHooks.enabled", true,
        "cdsHooks.baseUrl", "https://fhir.example.org/cds-services",
        "cdsHooks.trustedIssuers[0].issuer", "https://ehr.example.org",
        "cdsHooks.trustedIssuers[0].jwksUri", "https://ehr.example.org/jwks.json",
        "autoDraft.enabled", true, "autoDraft.rules[0]", "encounter-finished-discharge",
        "transparency.storePrompts", false));
    sets.putAll(Map.of("cdsHooks.allowedOrigins[0]", "https://cds-sandbox.example.org",
        "fhir.corsAllowedOrigins[0]", "https://app.example.org"));
    JsonNode app = RenderedChart.render(null, sets).applicationYaml().path("medgemma");
    assertEquals("https://cds-sandbox.example.org", app.path("cds-hooks").path("allowed-origins").get(0).asText());
    assertEquals("https://app.example.org", app.path("fhir").path("cors-allowed-origins").get(0).asText());
    assertTrue(defaults.path("fhir").isMissingNode(), "no CORS unless origins are listed");
    assertFalse(app.path("mcp").path("enabled").asBoolean(true));
    assertEquals("https://fhir.example.org/cds-services", app.path("cds-hooks").path("base-url").asText());
    JsonNode ehr = app.path("cds-hooks").path("trusted-issuers").get(0);
    assertEquals("https://ehr.example.org", ehr.path("issuer").asText());
    assertEquals("https://ehr.example.org/jwks.json", ehr.path("jwks-uri").asText());
    assertTrue(app.path("auto-draft").path("enabled").asBoolean());
    assertFalse(app.path("transparency").path("store-prompts").asBoolean(true));
    assertEquals(List.of("encounter-finished-discharge"), iterable(app.path("auto-draft").path("rules").elements())
        .stream().map(JsonNode::asText).toList());
  }

  @Test
  void theStreamHeartbeatReachesTheServer() throws IOException {
    assertEquals("5s", RenderedChart.render(null, WITH_ISSUER).applicationYaml().path("medgemma").path("operations")
        .path("stream-heartbeat").asText(), "the server's default, stated");
    Map<String, Object> sets = new java.util.HashMap<>(WITH_ISSUER);
    sets.put("streaming.heartbeat", "15s");
    assertEquals("15s", RenderedChart.render(null, sets).applicationYaml().path("medgemma").path("operations")
        .path("stream-heartbeat").asText());
  }

  @Test
  void aSitesSynonymsForAskBecomeAFileTheServerIsPointedAt() throws IOException {
    RenderedChart plain = RenderedChart.render(null, WITH_ISSUER);
    assertTrue(plain.applicationYaml().path("medgemma").path("operations").path("ask").path("synonyms").isMissingNode(),
        "no site file unless synonyms are given");
    Map<String, Object> sets = new java.util.HashMap<>(WITH_ISSUER);
    sets.put("ask.synonyms", "tummy | abdomen | abdominal");
    RenderedChart chart = RenderedChart.render(null, sets);
    assertEquals("/config/clinical-synonyms.txt",
        chart.applicationYaml().path("medgemma").path("operations").path("ask").path("synonyms").asText());
    assertEquals("tummy | abdomen | abdominal", chart.configMapData("clinical-synonyms.txt").strip());
  }

  @Test
  void theInitContainerFollowsPullEnabled() throws IOException {
    Map<String, Object> on = Map.of("security.issuer", ISSUER, "security.audience", AUDIENCE, "model.repo", "google/medgemma-x");
    Map<String, Object> off = Map.of("security.issuer", ISSUER, "security.audience", AUDIENCE, "model.repo", "google/medgemma-x",
        "model.pull.enabled", false);
    assertEquals(1, RenderedChart.render(null, on).one(Deployment.class).getSpec().getTemplate().getSpec()
        .getInitContainers().size());
    assertTrue(RenderedChart.render(null, off).one(Deployment.class).getSpec().getTemplate().getSpec()
        .getInitContainers().isEmpty());
  }

  @Test
  void extraConfigIsMergedIntoApplicationYaml() throws IOException {
    RenderedChart chart = RenderedChart.render(null, Map.of("security.issuer", ISSUER, "security.audience", AUDIENCE,
        "config.medgemma.engine.intra-op-threads", 3, "config.hapi.fhir.server_address", "https://fhir.example.org/fhir"));
    JsonNode app = chart.applicationYaml();
    assertEquals(3, app.path("medgemma").path("engine").path("intra-op-threads").asInt());
    assertEquals(Set.of("security", "models", "operations", "engine", "mcp", "cds-hooks", "auto-draft", "transparency"),
        Set.copyOf(iterable(app.path("medgemma").fieldNames())), "merge, not replace");
    assertEquals("https://fhir.example.org/fhir", app.path("hapi").path("fhir").path("server_address").asText());
  }

  // ---- rejections ------------------------------------------------------------------------------

  @Test
  void securityOnWithoutAnIssuerRefusesToRender() {
    Exception e = assertThrows(Exception.class, () -> RenderedChart.render(null, Map.of()));
    assertTrue(e.getMessage().contains("issuer"), e.getMessage());
  }

  static Stream<Object[]> badValues() {
    return Stream.of(
        new Object[] {"negative replicas", Map.of("replicaCount", -1), "replicaCount"},
        new Object[] {"zero GPUs", Map.of("gpu.count", 0), "count"},
        new Object[] {"security on without an audience", Map.of("security.audience", ""), "audience"},
        new Object[] {"q4 accuracy level out of range", Map.of("engine.q4AccuracyLevel", 7), "q4AccuracyLevel"},
        new Object[] {"unknown dtype", Map.of("model.dtype", "q3"), "dtype"},
        new Object[] {"unknown automatic drafting rule", Map.of("autoDraft.rules[0]", "everything"), "rules"},
        new Object[] {"trusted EHR without a JWK set", Map.of("cdsHooks.trustedIssuers[0].issuer", "https://ehr"), "jwksUri"},
        new Object[] {"CORS wildcard origin", Map.of("fhir.corsAllowedOrigins[0]", "*"), "corsAllowedOrigins"},
        new Object[] {"CDS origin with a path", Map.of("cdsHooks.allowedOrigins[0]", "https://cds.example.org/app"),
            "allowedOrigins"},
        new Object[] {"port out of range", Map.of("service.port", 70000), "port"},
        new Object[] {"inline database password", Map.of("externalDatabase.password", "hunter2"), "password"},
        new Object[] {"misspelt top-level key", Map.of("replicas", 2), "replicas"},
        new Object[] {"privilege escalation", Map.of("securityContext.allowPrivilegeEscalation", true), "allowPrivilegeEscalation"},
        new Object[] {"root user", Map.of("podSecurityContext.runAsNonRoot", false), "runAsNonRoot"},
        new Object[] {"issuer that is not a URL", Map.of("security.issuer", "auth.example.org"), "issuer"},
        new Object[] {"malformed repository", Map.of("model.repo", "medgemma"), "repo"},
        new Object[] {"two replicas on H2", Map.of("replicaCount", 2), "PostgreSQL"},
        new Object[] {"database without a secret", Map.of("externalDatabase.host", "pg"), "existingSecret"},
        new Object[] {"both databases", Map.of("externalDatabase.host", "pg", "externalDatabase.existingSecret", "s",
            "cnpg.enabled", true), "choose one database"});
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("badValues")
  void badValuesAreRejected(String why, Map<String, Object> bad, String mentioned) {
    Map<String, Object> sets = new java.util.HashMap<>(WITH_ISSUER);
    sets.putAll(bad);
    Exception e = assertThrows(Exception.class, () -> RenderedChart.render(null, sets), why);
    assertTrue(e.getMessage().contains(mentioned), why + ": " + e.getMessage());
  }

  // ---- helpers -------------------------------------------------------------------------------

  private static <T> List<T> iterable(java.util.Iterator<T> it) {
    List<T> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  private static Path ci(String name) {
    return RenderedChart.CHART.resolve("ci").resolve(name);
  }

  private static List<Container> allContainers(PodSpec pod) {
    List<Container> all = new ArrayList<>(pod.getContainers());
    all.addAll(pod.getInitContainers());
    return all;
  }

  private static Container server(Deployment d) {
    return d.getSpec().getTemplate().getSpec().getContainers().stream()
        .filter(c -> c.getName().equals("server")).findFirst().orElseThrow();
  }

  private static EnvVar env(Container c, String name) {
    return c.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError(c.getName() + " has no env " + name));
  }

  private static VolumeMount mount(Container c, String path) {
    return c.getVolumeMounts().stream().filter(m -> m.getMountPath().equals(path)).findFirst()
        .orElseThrow(() -> new AssertionError(c.getName() + " mounts nothing at " + path));
  }

  private static boolean hasGpu(Container c) {
    var r = c.getResources();
    return r != null && ((r.getLimits() != null && r.getLimits().keySet().stream().anyMatch(k -> k.contains("gpu")))
        || (r.getRequests() != null && r.getRequests().keySet().stream().anyMatch(k -> k.contains("gpu"))));
  }

  private static void assertProbe(Probe probe, String path) {
    assertNotNull(probe, "probe for " + path);
    assertEquals(path, probe.getHttpGet().getPath());
    assertEquals("http", probe.getHttpGet().getPort().getStrVal());
  }

  private static void assertHardened(Container c) {
    assertHardenedExceptUser(c);
    assertEquals(Boolean.TRUE, c.getSecurityContext().getRunAsNonRoot(), c.getName());
  }

  private static void assertHardenedExceptUser(Container c) {
    SecurityContext sc = c.getSecurityContext();
    assertNotNull(sc, c.getName() + " has no securityContext");
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation(), c.getName());
    assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem(), c.getName());
    assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), c.getName());
    assertTrue(c.getVolumeMounts().stream().anyMatch(m -> m.getMountPath().equals("/tmp")),
        c.getName() + " needs a writable /tmp on a read-only root");
  }

  /** Values that look secret are only ever referenced (secretKeyRef), never written inline. */
  private static void assertNoInlineSecrets(Container c) {
    for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
      if (SECRET_NAME.matcher(e.getName()).matches()) {
        assertNull(e.getValue(), c.getName() + " has " + e.getName() + " inline");
        assertNotNull(e.getValueFrom().getSecretKeyRef(), e.getName() + " must come from a Secret");
      }
    }
  }

  @SuppressWarnings("unused")
  private static String names(List<? extends HasMetadata> list) {
    return list.stream().map(r -> r.getKind() + "/" + r.getMetadata().getName()).toList().toString();
  }
}
