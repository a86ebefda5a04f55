package dev.medgemmafhir.operations.queue;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.medgemmafhir.operations.OperationErrors;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class InferenceQueueTest {

  @Test
  void aFullWaitingRoomRejectsSynchronousCallersWith429AndRetryAfter() throws Exception {
    SimpleMeterRegistry meters = new SimpleMeterRegistry();
    InferenceQueue queue = new InferenceQueue("m", 1, 1, 7, meters);
    InferenceQueue.Permit running = queue.enterOrReject();

    // One caller may wait...
    CountDownLatch waiting = new CountDownLatch(1);
    CountDownLatch admitted = new CountDownLatch(1);
    Thread waiter = new Thread(() -> {
      waiting.countDown();
      try (InferenceQueue.Permit p = queue.enterOrReject()) {
        admitted.countDown();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    waiter.start();
    waiting.await();
    while (queue.waiting() == 0) {
      Thread.onSpinWait();
    }
    assertThat(meters.get("medgemma.inference.queue.depth").tag("model", "m").gauge().value()).isEqualTo(1);
    assertThat(meters.get("medgemma.inference.running").tag("model", "m").gauge().value()).isEqualTo(1);

    // ...the next one is turned away at once.
    assertThatThrownBy(queue::enterOrReject)
        .isInstanceOfSatisfying(OperationErrors.QueueFull.class, e -> {
          assertThat(e.getStatusCode()).isEqualTo(429);
          assertThat(e.getResponseHeaders()).containsEntry("Retry-After", java.util.List.of("7"));
        });
    assertThat(queue.waiting()).isEqualTo(1);

    running.close();
    running.close(); // closing twice frees one slot, not two
    assertThat(admitted.await(10, TimeUnit.SECONDS)).isTrue();
    waiter.join();
    assertThat(queue.running()).isZero();
    assertThat(queue.waiting()).isZero();
  }

  @Test
  void acceptedJobsWaitInsteadOfBeingRejected() throws Exception {
    InferenceQueue queue = new InferenceQueue("m", 1, 0, 1, null);
    InferenceQueue.Permit running = queue.enter();
    assertThatThrownBy(queue::enterOrReject).isInstanceOf(OperationErrors.QueueFull.class);
    CountDownLatch admitted = new CountDownLatch(1);
    Thread job = new Thread(() -> {
      try (InferenceQueue.Permit p = queue.enter()) {
        admitted.countDown();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    job.start();
    assertThat(admitted.await(200, TimeUnit.MILLISECONDS)).isFalse();
    running.close();
    assertThat(admitted.await(10, TimeUnit.SECONDS)).isTrue();
    job.join();
  }

  /** Waiters are let in in the order they came; one that gives up leaves the line and the next one moves up. */
  @Test
  void waitersGoInTheOrderTheyCameAndOneThatGivesUpLeavesTheLine() throws Exception {
    InferenceQueue queue = new InferenceQueue("m", 1, 8, 1, null);
    InferenceQueue.Permit running = queue.enter();
    java.util.List<String> admitted = java.util.Collections.synchronizedList(new java.util.ArrayList<>());
    dev.medgemmafhir.engine.Cancellation leaves = dev.medgemmafhir.engine.Cancellation.create();
    java.util.concurrent.CompletableFuture<Throwable> gaveUp = new java.util.concurrent.CompletableFuture<>();
    java.util.List<Thread> threads = new java.util.ArrayList<>();
    String[] names = {"first", "leaves", "third", "fourth"};
    for (String name : names) {
      Thread t = new Thread(() -> {
        try (InferenceQueue.Permit p = name.equals("leaves") ? queue.enterOrReject(leaves) : name.equals("third")
            ? queue.enter() : queue.enterOrReject(dev.medgemmafhir.engine.Cancellation.none())) {
          admitted.add(name);
        } catch (java.util.concurrent.CancellationException e) {
          gaveUp.complete(e);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      });
      int before = queue.waiting();
      t.start();
      threads.add(t);
      while (queue.waiting() == before) { // each one is in line before the next comes
        Thread.onSpinWait();
      }
    }
    leaves.cancel();
    assertThat(gaveUp.get(10, TimeUnit.SECONDS)).isInstanceOf(java.util.concurrent.CancellationException.class);
    assertThat(queue.waiting()).isEqualTo(3);
    assertThat(admitted).isEmpty();

    running.close();
    for (Thread t : threads) {
      t.join(10_000);
    }
    assertThat(admitted).containsExactly("first", "third", "fourth");
    assertThat(queue.running()).isZero();
    assertThat(queue.waiting()).isZero();
  }
}
