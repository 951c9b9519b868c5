package io.scorebridge.client;

import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;

/**
 * The disaster plan for a scoring call: run it with a time budget, and when the budget runs out or the
 * call fails, give up at once and return the caller's default value. It counts how often it did.
 *
 * <p>The call runs on a pooled daemon thread so the caller can stop waiting at the budget; a call that
 * overran is cancelled (interrupted; an HTTP call of {@link ScoringClient} blocked on the network has its
 * connection closed, since socket reads ignore interrupts). At most {@code maxInFlight} calls may be running at once: when a
 * backend hangs, further calls get the default immediately instead of piling up threads. Thread-safe.
 */
public final class FallbackPolicy implements FallbackStats {

    private static final ExecutorService POOL = Executors.newCachedThreadPool(new ThreadFactory() {
        private final AtomicInteger n = new AtomicInteger();

        @Override
        public Thread newThread(Runnable r) {
            // a Cancel.Worker: cancelling a blocked HTTP call also closes its connection
            return new Cancel.Worker(r, "scorebridge-fallback-" + n.incrementAndGet());
        }
    });

    private final Duration budget;
    private final long budgetNanos;
    private final Semaphore inFlight;
    private final LongAdder calls = new LongAdder();
    private final LongAdder timeouts = new LongAdder();
    private final LongAdder failures = new LongAdder();
    private final LongAdder rejected = new LongAdder();
    private final LongAdder featureErrors = new LongAdder();
    private final boolean defaultOnFeatureError;
    private final AtomicReference<Throwable> lastFailure = new AtomicReference<>();

    public FallbackPolicy(Duration budget) {
        this(budget, 256);
    }

    public FallbackPolicy(Duration budget, int maxInFlight) {
        this(budget, maxInFlight, true);
    }

    /**
     * {@code defaultOnFeatureError}: whether a record sent by key whose features the service could not read
     * (store timeout or outage: the service scored it with those inputs missing) gets the default value, as a
     * timeout does (the default, {@code true}), or keeps the service's answer ({@code false}).
     */
    public FallbackPolicy(Duration budget, int maxInFlight, boolean defaultOnFeatureError) {
        this.defaultOnFeatureError = defaultOnFeatureError;
        if (budget.isNegative() || budget.isZero()) {
            throw new IllegalArgumentException("the budget must be positive");
        }
        this.budget = budget;
        this.budgetNanos = budget.toNanos();
        this.inFlight = new Semaphore(maxInFlight);
    }

    public Duration budget() {
        return budget;
    }

    /** Whether a keyed answer with a feature error is replaced by the default (see the constructor). */
    public boolean defaultOnFeatureError() {
        return defaultOnFeatureError;
    }

    /**
     * {@code answer}, or {@code defaultValue} (counted) when {@code prediction} reports a feature error and this
     * policy replaces those; what the generated fallback scorers call on each answer.
     */
    public <T> T checkFeatures(Prediction prediction, T answer, T defaultValue) {
        if (defaultOnFeatureError && prediction.featureError() != null) {
            featureErrors.increment();
            return defaultValue;
        }
        return answer;
    }

    /** Runs {@code task} within the budget; returns {@code defaultValue} on timeout, failure or overload. */
    public <T> T call(Callable<T> task, T defaultValue) {
        calls.increment();
        if (!inFlight.tryAcquire()) {
            rejected.increment();
            return defaultValue;
        }
        // The slot is held until the task really ends, not merely until it is cancelled: an overrunning call
        // that ignores interruption keeps its slot. Whoever claims first releases it: the task when it runs,
        // or done() when the task was cancelled before it started (then it never runs).
        AtomicBoolean claimed = new AtomicBoolean();
        FutureTask<T> future = new FutureTask<>(() -> {
            if (!claimed.compareAndSet(false, true)) {
                return null;
            }
            try {
                return task.call();
            } finally {
                inFlight.release();
            }
        }) {
            @Override
            protected void done() {
                if (claimed.compareAndSet(false, true)) {
                    inFlight.release();
                }
            }
        };
        try {
            POOL.execute(future);
        } catch (RejectedExecutionException e) {
            future.cancel(false);
            return fail(e, defaultValue);
        }
        try {
            return future.get(budgetNanos, TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            timeouts.increment();
            return defaultValue;
        } catch (ExecutionException e) {
            return fail(e.getCause(), defaultValue);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            return fail(e, defaultValue);
        }
    }

    private <T> T fail(Throwable cause, T defaultValue) {
        failures.increment();
        lastFailure.set(cause);
        return defaultValue;
    }

    @Override
    public long calls() {
        return calls.sum();
    }

    @Override
    public long fallbacks() {
        return timeouts.sum() + failures.sum() + rejected.sum() + featureErrors.sum();
    }

    @Override
    public long timeouts() {
        return timeouts.sum();
    }

    @Override
    public long failures() {
        return failures.sum();
    }

    @Override
    public long rejected() {
        return rejected.sum();
    }

    @Override
    public long featureErrors() {
        return featureErrors.sum();
    }

    @Override
    public Throwable lastFailure() {
        return lastFailure.get();
    }

    @Override
    public String toString() {
        return "FallbackPolicy[budget=" + budget.toMillis() + "ms, calls=" + calls() + ", fallbacks=" + fallbacks()
                + " (timeouts=" + timeouts() + ", failures=" + failures() + ", rejected=" + rejected() + ", featureErrors=" + featureErrors() + ")]";
    }
}
