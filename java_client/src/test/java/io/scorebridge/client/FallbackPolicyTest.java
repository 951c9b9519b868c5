package io.scorebridge.client;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FallbackPolicyTest {

    static final String DEFAULT = "default";

    @Test
    void passesFastAnswersThrough() {
        FallbackPolicy f = new FallbackPolicy(Duration.ofMillis(200));
        assertEquals("real", f.call(() -> "real", DEFAULT));
        assertEquals(1, f.calls());
        assertEquals(0, f.fallbacks());
    }

    @Test
    void slowCallGetsTheDefaultWithinBudget() {
        FallbackPolicy f = new FallbackPolicy(Duration.ofMillis(100));
        f.call(() -> "warm-up", DEFAULT);
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            String r = f.call(() -> {
                Thread.sleep(5000);
                return "late";
            }, DEFAULT);
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertSame(DEFAULT, r);
            assertTrue(ms >= 99 && ms <= 120, "answered after " + ms + " ms");
        }
        assertEquals(3, f.timeouts());
        assertEquals(3, f.fallbacks());
    }

    @Test
    void failureGetsTheDefaultAtOnceAndIsCounted() {
        FallbackPolicy f = new FallbackPolicy(Duration.ofSeconds(5));
        long t0 = System.nanoTime();
        String r = f.call(() -> {
            throw new ScoringException("connect_failed", "down", null);
        }, DEFAULT);
        assertSame(DEFAULT, r);
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 1000);
        assertEquals(1, f.failures());
        assertEquals("connect_failed", ((ScoringException) f.lastFailure()).code());
    }

    @Test
    void stuckBackendDoesNotPileUpThreads() throws Exception {
        FallbackPolicy f = new FallbackPolicy(Duration.ofMillis(20), 2);
        CountDownLatch release = new CountDownLatch(1);
        for (int i = 0; i < 2; i++) {
            // Ignores interruption, like a call stuck in native I/O: it keeps its slot.
            f.call(() -> {
                while (true) {
                    try {
                        if (release.await(10, TimeUnit.SECONDS)) {
                            return "done";
                        }
                    } catch (InterruptedException ignored) {
                        // keep holding the slot
                    }
                }
            }, DEFAULT);
        }
        long t0 = System.nanoTime();
        assertSame(DEFAULT, f.call(() -> "never runs", DEFAULT));
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 10);
        assertEquals(1, f.rejected());
        release.countDown();
        Thread.sleep(100);
        assertEquals("ok", f.call(() -> "ok", DEFAULT));
    }

    @Test
    void aFeatureErrorGetsTheDefaultUnlessTheAnswerIsKept() {
        Prediction ok = Prediction.regression(1.0, "m", "1", "http:onnx").withFeatures("2026-11-30", false, null);
        Prediction down = Prediction.regression(2.0, "m", "1", "http:onnx").withFeatures(null, false, "unavailable");
        FallbackPolicy f = new FallbackPolicy(Duration.ofSeconds(1));
        assertTrue(f.defaultOnFeatureError());
        assertEquals("ok", f.checkFeatures(ok, "ok", DEFAULT));
        assertSame(DEFAULT, f.checkFeatures(down, "scored without features", DEFAULT));
        assertEquals(1, f.featureErrors());
        assertEquals(1, f.fallbacks());
        FallbackPolicy keep = new FallbackPolicy(Duration.ofSeconds(1), 256, false);
        assertEquals("scored without features", keep.checkFeatures(down, "scored without features", DEFAULT));
        assertEquals(0, keep.featureErrors());
        assertEquals("unavailable", down.featureError());
        assertTrue(down.isKeyed() && !Prediction.regression(1.0, "m", "1", "pmml").isKeyed());
    }
}
