package dev.medgemmafhir.operations.model;

import dev.medgemmafhir.engine.Engine;
import dev.medgemmafhir.operations.OperationErrors;
import dev.medgemmafhir.operations.queue.InferenceQueue;
import ca.uhn.fhir.rest.server.exceptions.InvalidRequestException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The configured models by id. Models load in the background so the server answers (and
 * reports "not ready") while a multi-gigabyte model is being mapped; asking for a model that is
 * still loading or failed is a 503, asking for one that is not configured a 400.
 */
public final class ModelCatalog implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(ModelCatalog.class);

  /** Where a configured model stands. */
  public enum State { LOADING, READY, FAILED }

  private record Slot(State state, LoadedModel model, String failure) {}

  private final Map<String, Slot> slots = new ConcurrentHashMap<>();
  private final java.util.List<java.util.function.Consumer<LoadedModel>> readyListeners =
      new java.util.concurrent.CopyOnWriteArrayList<>();
  private final Map<String, String> operationModels;

  /** @param operationModels operation name (e.g. {@code summarize}) to the default model id */
  public ModelCatalog(Map<String, String> operationModels) {
    this.operationModels = Map.copyOf(operationModels);
  }

  /** Registers a model whose engine is built by {@code loader} on a background thread. */
  public void load(String id, String displayName, Supplier<Engine> loader, InferenceQueue queue) {
    slots.put(id, new Slot(State.LOADING, null, null));
    Thread thread = new Thread(() -> {
      long start = System.nanoTime();
      try {
        LoadedModel model = new LoadedModel(id, displayName, loader.get(), queue);
        ready(id, model);
        log.info("Model '{}' ready in {} ms", id, (System.nanoTime() - start) / 1_000_000);
      } catch (RuntimeException | Error e) {
        slots.put(id, new Slot(State.FAILED, null, e.getMessage()));
        log.error("Model '{}' failed to load: {}", id, e.getMessage(), e);
      }
    }, "model-load-" + id);
    thread.setDaemon(true);
    thread.start();
  }

  /** Registers an engine that is already loaded (the scripted engines of tests use this too). */
  public void put(String id, String displayName, Engine engine, InferenceQueue queue) {
    ready(id, new LoadedModel(id, displayName, engine, queue));
  }

  /**
   * Calls {@code listener} with every model that is ready now and, from now on, with each model as
   * it becomes ready (on the loading thread), at least once each. A listener's failure is logged; the model stays ready.
   */
  public void whenReady(java.util.function.Consumer<LoadedModel> listener) {
    java.util.List<LoadedModel> now;
    synchronized (readyListeners) {
      readyListeners.add(listener);
      now = slots.values().stream().filter(s -> s.state() == State.READY).map(Slot::model).toList();
    }
    now.forEach(model -> notify(listener, model));
  }

  private void ready(String id, LoadedModel model) {
    synchronized (readyListeners) {
      slots.put(id, new Slot(State.READY, model, null));
    }
    readyListeners.forEach(listener -> notify(listener, model));
  }

  private static void notify(java.util.function.Consumer<LoadedModel> listener, LoadedModel model) {
    try {
      listener.accept(model);
    } catch (RuntimeException e) {
      log.warn("After model '{}' became ready: {}", model.id(), e.toString());
    }
  }

  /** The default model id for an operation; a configuration without one is a 400 for the caller. */
  public String defaultModelFor(String operation) {
    String id = operationModels.get(operation);
    if (id == null) {
      throw new InvalidRequestException("No model is configured for $" + operation
          + " (medgemma.operations." + operation + ".model) and the request names none");
    }
    return id;
  }

  /** The ready model, or the right FHIR error: 400 unknown id, 503 loading or failed. */
  public LoadedModel require(String id) {
    Slot slot = slots.get(id);
    if (slot == null) {
      throw new InvalidRequestException("Unknown model '" + id + "'; configured models: " + slots.keySet());
    }
    return switch (slot.state()) {
      case READY -> slot.model();
      case LOADING -> throw new OperationErrors.ModelUnavailable("Model '" + id + "' is still loading", 30);
      case FAILED -> throw new OperationErrors.ModelUnavailable(
          "Model '" + id + "' failed to load: " + slot.failure(), 300);
    };
  }

  /** Every configured model and its state, for readiness and diagnostics. */
  public Map<String, State> states() {
    Map<String, State> states = new LinkedHashMap<>();
    slots.forEach((id, slot) -> states.put(id, slot.state()));
    return states;
  }

  /** Why a model failed to load (its loader's message); empty when it did not fail. */
  public java.util.Optional<String> failure(String id) {
    Slot slot = slots.get(id);
    return slot == null || slot.state() != State.FAILED ? java.util.Optional.empty()
        : java.util.Optional.of(slot.failure() == null ? "unknown error" : slot.failure());
  }

  /** Unregisters a model; its engine is closed. */
  public void remove(String id) {
    Slot slot = slots.remove(id);
    if (slot != null && slot.model() != null) {
      slot.model().engine().close();
    }
  }

  public boolean allReady() {
    return slots.values().stream().allMatch(s -> s.state() == State.READY);
  }

  @Override
  public void close() {
    slots.values().stream().filter(s -> s.model() != null).forEach(s -> s.model().engine().close());
  }
}
