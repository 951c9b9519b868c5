package io.scorebridge.client;

import java.net.HttpURLConnection;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Ends blocking HTTP calls that a {@link FallbackPolicy} gave up on. Socket reads ignore
 * {@link Thread#interrupt()}, so the policy's pool threads are {@link Worker}s: interrupting one also closes
 * the connection its call registered, and the blocked read fails at once instead of at the request timeout.
 */
final class Cancel {

    /** Closing a connection can wait for the reading thread; the interrupting caller must not. */
    private static final ExecutorService CLOSER = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "scorebridge-cancel");
        t.setDaemon(true);
        return t;
    });

    private Cancel() {
    }

    /** A pool thread whose interrupt also closes its call's connection. */
    static final class Worker extends Thread {
        private volatile HttpURLConnection connection;

        Worker(Runnable r, String name) {
            super(r, name);
            setDaemon(true);
        }

        @Override
        public void interrupt() {
            HttpURLConnection c = connection;
            if (c != null) {
                CLOSER.execute(c::disconnect);
            }
            super.interrupt();
        }
    }

    /** Marks {@code c} as the connection the current call uses (a no-op outside a {@link Worker}). */
    static void register(HttpURLConnection c) {
        Thread t = Thread.currentThread();
        if (t instanceof Worker) {
            ((Worker) t).connection = c;
            if (t.isInterrupted()) {  // cancelled before the connection was known
                CLOSER.execute(c::disconnect);
            }
        }
    }

    static void unregister() {
        Thread t = Thread.currentThread();
        if (t instanceof Worker) {
            ((Worker) t).connection = null;
        }
    }
}
