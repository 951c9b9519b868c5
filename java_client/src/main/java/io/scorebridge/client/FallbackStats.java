package io.scorebridge.client;

/** Counters of a fallback wrapper: how often it had to answer with the default, and why. */
public interface FallbackStats {

    /** Calls made through the wrapper. */
    long calls();

    /** Calls answered with the default value (timeouts + failures + rejected + featureErrors). */
    long fallbacks();

    /** Calls whose budget ran out. */
    long timeouts();

    /** Calls whose scorer threw. */
    long failures();

    /** Calls refused at once because too many earlier calls were still running (a stuck backend). */
    long rejected();

    /**
     * Keyed calls answered with the default because the service could not read the feature store (a
     * {@code featureError}); part of {@link #fallbacks()}.
     */
    default long featureErrors() {
        return 0;
    }

    /** The most recent failure, or {@code null}; for logs. */
    Throwable lastFailure();

    /** Stats of a scorer without a fallback: all zero. */
    FallbackStats NONE = new FallbackStats() {
        @Override
        public long calls() {
            return 0;
        }

        @Override
        public long fallbacks() {
            return 0;
        }

        @Override
        public long timeouts() {
            return 0;
        }

        @Override
        public long failures() {
            return 0;
        }

        @Override
        public long rejected() {
            return 0;
        }

        @Override
        public Throwable lastFailure() {
            return null;
        }
    };
}
