package dev.medgemmafhir.helm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/**
 * Renders the chart with helm-java (Helm compiled into a native library, no helm binary needed)
 * and parses every manifest into the fabric8 Kubernetes model, strictly: fabric8 classes keep
 * unknown fields in an "additionalProperties" map instead of failing, so every parsed object
 * graph is walked and any such leftover field fails the test. That catches a misspelt or
 * misplaced key that the API server would silently drop.
 */
final class RenderedChart {
  static final Path CHART = Path.of("medgemma-fhir").toAbsolutePath();
  static final String RELEASE = "mf";
  static final String NAMESPACE = "clinical";
  /** Helm's built-in default is older than the chart's kubeVersion floor; render for a current cluster. */
  static final String KUBE_VERSION = "v1.31.0";

  private static final ObjectMapper YAML = YAMLMapper.builder()
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
      .build();

  /** kind -> typed model class; "apiVersion" must match too, so a wrong group fails. */
  private static final Map<String, Map.Entry<String, Class<? extends HasMetadata>>> TYPED = Map.of(
      "Deployment", Map.entry("apps/v1", Deployment.class),
      "Service", Map.entry("v1", Service.class),
      "ServiceAccount", Map.entry("v1", ServiceAccount.class),
      "ConfigMap", Map.entry("v1", ConfigMap.class),
      "PersistentVolumeClaim", Map.entry("v1", PersistentVolumeClaim.class),
      "Pod", Map.entry("v1", Pod.class),
      "Ingress", Map.entry("networking.k8s.io/v1", Ingress.class),
      "NetworkPolicy", Map.entry("networking.k8s.io/v1", NetworkPolicy.class),
      "PodDisruptionBudget", Map.entry("policy/v1", PodDisruptionBudget.class),
      "HorizontalPodAutoscaler", Map.entry("autoscaling/v2", HorizontalPodAutoscaler.class));

  /** Custom resources, parsed generically; their required fields are checked by the tests. */
  private static final Map<String, String> CUSTOM = Map.of(
      "ServiceMonitor", "monitoring.coreos.com/v1",
      "Cluster", "postgresql.cnpg.io/v1");

  final String text;
  final List<HasMetadata> resources;

  private RenderedChart(String text, List<HasMetadata> resources) {
    this.text = text;
    this.resources = resources;
  }

  /** Renders with an optional values file and --set pairs. */
  static RenderedChart render(Path valuesFile, Map<String, Object> sets) {
    TemplateCommand template = new Helm(CHART).template().withName(RELEASE).withNamespace(NAMESPACE)
        .withKubeVersion(KUBE_VERSION);
    if (valuesFile != null) {
      template = template.withValuesFile(valuesFile);
    }
    for (Map.Entry<String, Object> e : sets.entrySet()) {
      template = template.set(e.getKey(), e.getValue());
    }
    String out = template.call();
    return new RenderedChart(out, parse(out));
  }

  /** Values that come after the chart's defaults, merged the way Helm does it (maps deep). */
  static JsonNode mergedValues(Path valuesFile, Map<String, Object> sets) throws IOException {
    ObjectNode values = (ObjectNode) YAML.readTree(CHART.resolve("values.yaml").toFile());
    if (valuesFile != null) {
      merge(values, (ObjectNode) YAML.readTree(valuesFile.toFile()));
    }
    for (Map.Entry<String, Object> e : sets.entrySet()) {
      ObjectNode node = values;
      String[] keys = e.getKey().split("\\.");
      for (int i = 0; i < keys.length - 1; i++) {
        node = node.with(keys[i]);
      }
      node.putPOJO(keys[keys.length - 1], e.getValue());
    }
    return values;
  }

  private static void merge(ObjectNode into, ObjectNode from) {
    from.fields().forEachRemaining(e -> {
      JsonNode existing = into.get(e.getKey());
      if (existing instanceof ObjectNode target && e.getValue() instanceof ObjectNode source) {
        merge(target, source);
      } else {
        into.set(e.getKey(), e.getValue());
      }
    });
  }

  /**
   * Helm's lint reads only the chart's own values.yaml, so each scenario is linted on a copy of
   * the chart whose values.yaml holds the merged values.
   */
  static LintResult lint(Path valuesFile, Map<String, Object> sets, Path scratch) throws IOException {
    Path copy = copyChart(scratch.resolve("lint"));
    YAML.writeValue(copy.resolve("values.yaml").toFile(), mergedValues(valuesFile, sets));
    return new Helm(copy).lint().strict().call();
  }

  /**
   * `helm template` leaves hooks out, so the `helm test` pod is rendered from a copy of the chart
   * whose test template has its hook annotation removed; the pod is then checked like the rest.
   */
  static RenderedChart renderTestHook(Path valuesFile, Map<String, Object> sets, Path scratch) throws IOException {
    Path copy = copyChart(scratch.resolve("hook"));
    Path testPod = copy.resolve("templates/tests/test-metadata.yaml");
    String template = Files.readString(testPod);
    assertTrue(template.contains("helm.sh/hook: test"), "the test pod must be a helm test hook");
    Files.writeString(testPod, template.replace("helm.sh/hook: test", "medgemma-fhir/was-hook: test"));
    TemplateCommand command = new Helm(copy).template().withName(RELEASE).withNamespace(NAMESPACE)
        .withKubeVersion(KUBE_VERSION);
    if (valuesFile != null) {
      command = command.withValuesFile(valuesFile);
    }
    for (Map.Entry<String, Object> e : sets.entrySet()) {
      command = command.set(e.getKey(), e.getValue());
    }
    String out = command.call();
    return new RenderedChart(out, parse(out));
  }

  private static Path copyChart(Path dir) throws IOException {
    Path copy = dir.resolve("medgemma-fhir");
    try (Stream<Path> walk = Files.walk(CHART)) {
      for (Path p : walk.toList()) {
        Path to = copy.resolve(CHART.relativize(p).toString());
        if (Files.isDirectory(p)) {
          Files.createDirectories(to);
        } else {
          Files.copy(p, to);
        }
      }
    }
    return copy;
  }

  private static List<HasMetadata> parse(String rendered) {
    List<HasMetadata> out = new ArrayList<>();
    try {
      Iterator<JsonNode> docs = YAML.readerFor(JsonNode.class).readValues(rendered);
      while (docs.hasNext()) {
        JsonNode doc = docs.next();
        if (doc == null || doc.isNull() || doc.isMissingNode() || doc.isEmpty()) {
          continue;
        }
        String kind = doc.path("kind").asText();
        String apiVersion = doc.path("apiVersion").asText();
        if (TYPED.containsKey(kind)) {
          assertEquals(TYPED.get(kind).getKey(), apiVersion, "apiVersion of " + kind);
          HasMetadata resource = YAML.treeToValue(doc, TYPED.get(kind).getValue());
          assertNoUnknownFields(resource, kind + "/" + resource.getMetadata().getName());
          out.add(resource);
        } else if (CUSTOM.containsKey(kind)) {
          assertEquals(CUSTOM.get(kind), apiVersion, "apiVersion of " + kind);
          GenericKubernetesResource resource = YAML.treeToValue(doc, GenericKubernetesResource.class);
          assertNotNull(resource.getMetadata().getName(), kind + " without a name");
          out.add(resource);
        } else {
          fail("unexpected kind in the chart: " + kind + " (add it to RenderedChart with its model class)");
        }
      }
    } catch (IOException e) {
      throw new AssertionError("rendered chart is not valid YAML:\n" + rendered, e);
    }
    return out;
  }

  /** Walks a fabric8 object graph; any field Jackson could not map lands in additionalProperties. */
  static void assertNoUnknownFields(Object o, String path) {
    if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof Enum) {
      return;
    }
    if (o instanceof Collection<?> c) {
      int i = 0;
      for (Object item : c) {
        assertNoUnknownFields(item, path + "[" + i++ + "]");
      }
      return;
    }
    if (o instanceof Map<?, ?> m) {
      for (Map.Entry<?, ?> e : m.entrySet()) {
        assertNoUnknownFields(e.getValue(), path + "." + e.getKey());
      }
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.")) {
      return;
    }
    for (Method m : o.getClass().getMethods()) {
      if (m.getParameterCount() != 0 || Modifier.isStatic(m.getModifiers()) || m.getDeclaringClass() == Object.class) {
        continue;
      }
      String name = m.getName();
      if (!name.startsWith("get") || name.equals("getClass")) {
        continue;
      }
      Object value;
      try {
        value = m.invoke(o);
      } catch (ReflectiveOperationException e) {
        continue;
      }
      if (name.equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          fail("unknown field(s) " + extra.keySet() + " at " + path);
        }
        continue;
      }
      assertNoUnknownFields(value, path + "." + Character.toLowerCase(name.charAt(3)) + name.substring(4));
    }
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return resources.stream().filter(type::isInstance).map(type::cast).toList();
  }

  <T extends HasMetadata> T one(Class<T> type) {
    List<T> found = all(type);
    assertEquals(1, found.size(), "expected exactly one " + type.getSimpleName() + " in\n" + text);
    return found.get(0);
  }

  List<GenericKubernetesResource> custom(String kind) {
    return resources.stream().filter(r -> r instanceof GenericKubernetesResource && kind.equals(r.getKind()))
        .map(GenericKubernetesResource.class::cast).toList();
  }

  Map<String, Long> kinds() {
    Map<String, Long> counts = new LinkedHashMap<>();
    for (HasMetadata r : resources) {
      counts.merge(r.getKind(), 1L, Long::sum);
    }
    return counts;
  }

  /** One file of the ConfigMap mounted at /config (null when absent). */
  String configMapData(String key) {
    return one(ConfigMap.class).getData().get(key);
  }

  /** The application.yaml the ConfigMap mounts into the server. */
  JsonNode applicationYaml() throws IOException {
    String yaml = one(ConfigMap.class).getData().get("application.yaml");
    assertNotNull(yaml, "ConfigMap has no application.yaml");
    JsonNode node = YAML.readTree(yaml);
    assertTrue(node.isObject(), "application.yaml is not a map");
    return node;
  }
}
