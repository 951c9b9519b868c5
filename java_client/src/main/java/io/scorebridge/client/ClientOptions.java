package io.scorebridge.client;

import java.time.Duration;
import java.util.Objects;

/**
 * Settings of a {@link ScoringClient}. Immutable; start from {@link #defaults()} and change what you need:
 * {@code ClientOptions.defaults().requestTimeout(Duration.ofMillis(300)).maxRetries(1).modelVersion("3")}.
 */
public final class ClientOptions {

    private static final ClientOptions DEFAULTS = new ClientOptions(Duration.ofSeconds(2), Duration.ofSeconds(5),
            2, Duration.ofMillis(50), Duration.ofSeconds(1), null, 1000);

    private final Duration connectTimeout;
    private final Duration requestTimeout;
    private final int maxRetries;
    private final Duration initialBackoff;
    private final Duration maxBackoff;
    private final String modelVersion;
    private final int maxBatchSize;

    private ClientOptions(Duration connectTimeout, Duration requestTimeout, int maxRetries, Duration initialBackoff,
                          Duration maxBackoff, String modelVersion, int maxBatchSize) {
        this.connectTimeout = Objects.requireNonNull(connectTimeout);
        this.requestTimeout = Objects.requireNonNull(requestTimeout);
        if (maxRetries < 0 || maxBatchSize < 1) {
            throw new IllegalArgumentException("maxRetries must be >= 0 and maxBatchSize >= 1");
        }
        this.maxRetries = maxRetries;
        this.initialBackoff = Objects.requireNonNull(initialBackoff);
        this.maxBackoff = Objects.requireNonNull(maxBackoff);
        this.modelVersion = modelVersion;
        this.maxBatchSize = maxBatchSize;
    }

    /** 2 s connect, 5 s request, 2 retries from 50 ms backoff up to 1 s, latest version, 1000 records a request. */
    public static ClientOptions defaults() {
        return DEFAULTS;
    }

    public ClientOptions connectTimeout(Duration d) {
        return new ClientOptions(d, requestTimeout, maxRetries, initialBackoff, maxBackoff, modelVersion, maxBatchSize);
    }

    /** Time allowed for one HTTP exchange (not retried when it runs out). */
    public ClientOptions requestTimeout(Duration d) {
        return new ClientOptions(connectTimeout, d, maxRetries, initialBackoff, maxBackoff, modelVersion, maxBatchSize);
    }

    /** Retries after a connection failure or a 503; never after a 4xx or a request timeout. */
    public ClientOptions maxRetries(int n) {
        return new ClientOptions(connectTimeout, requestTimeout, n, initialBackoff, maxBackoff, modelVersion, maxBatchSize);
    }

    /** First backoff; it doubles per retry (with jitter) up to {@code max}. */
    public ClientOptions backoff(Duration initial, Duration max) {
        return new ClientOptions(connectTimeout, requestTimeout, maxRetries, initial, max, modelVersion, maxBatchSize);
    }

    /** Pin a model version; {@code null} means the service's latest. */
    public ClientOptions modelVersion(String v) {
        return new ClientOptions(connectTimeout, requestTimeout, maxRetries, initialBackoff, maxBackoff, v, maxBatchSize);
    }

    /** Batches larger than this are sent in several requests. */
    public ClientOptions maxBatchSize(int n) {
        return new ClientOptions(connectTimeout, requestTimeout, maxRetries, initialBackoff, maxBackoff, modelVersion, n);
    }

    public Duration connectTimeout() {
        return connectTimeout;
    }

    public Duration requestTimeout() {
        return requestTimeout;
    }

    public int maxRetries() {
        return maxRetries;
    }

    public Duration initialBackoff() {
        return initialBackoff;
    }

    public Duration maxBackoff() {
        return maxBackoff;
    }

    public String modelVersion() {
        return modelVersion;
    }

    public int maxBatchSize() {
        return maxBatchSize;
    }
}
