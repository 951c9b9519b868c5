package io.scorebridge.client;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link ScoringClient} against a scripted stand-in of the service on loopback: retries, error mapping,
 * timeouts and connection reuse. (The pytest suite runs the same client against the real service.)
 */
class ScoringClientTest {

    /** What the stand-in answers next: status and body, or a delay. */
    interface Script {
        void handle(HttpExchange ex, JsonObject request, int call) throws Exception;
    }

    HttpServer server;
    volatile Script script;
    final AtomicInteger calls = new AtomicInteger();
    final List<String> paths = Collections.synchronizedList(new ArrayList<>());
    final List<String> bodies = Collections.synchronizedList(new ArrayList<>());
    final Set<Integer> clientPorts = Collections.synchronizedSet(new HashSet<>());

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 50);
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.createContext("/", ex -> {
            int n = calls.incrementAndGet();
            clientPorts.add(ex.getRemoteAddress().getPort());
            paths.add(ex.getRequestURI().getPath());
            String body = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
            bodies.add(body);
            try {
                script.handle(ex, JsonParser.parseString(body).getAsJsonObject(), n);
            } catch (Exception e) {
                send(ex, 500, "{\"error\": {\"code\": \"stub\", \"message\": \"" + e + "\"}}");
            } finally {
                ex.close();
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    URI url() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    static void send(HttpExchange ex, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, b.length);
        try (OutputStream os = ex.getResponseBody()) {
            os.write(b);
        }
    }

    /** Answers one classification prediction per record; P(1) is the record's income / 100000. */
    static void ok(HttpExchange ex, JsonObject req) throws IOException {
        StringBuilder sb = new StringBuilder("{\"model\": \"credit_risk\", \"version\": \"3\", \"engine\": \"onnx\","
                + " \"request_id\": \"r-1\", \"predictions\": [");
        int i = 0;
        for (var r : req.getAsJsonArray("records")) {
            var inc = r.getAsJsonObject().get("income");
            double p = inc == null || inc.isJsonNull() ? 0.5 : inc.getAsDouble() / 100000.0;
            sb.append(i++ > 0 ? "," : "").append("{\"label\": ").append(p > 0.5 ? 1 : 0)
                    .append(", \"probabilities\": {\"0\": ").append(1 - p).append(", \"1\": ").append(p).append("}}");
        }
        send(ex, 200, sb.append("]}").toString());
    }

    static Map<String, Object> rec(Object income, Object region) {
        Map<String, Object> m = new HashMap<>();
        m.put("income", income);
        m.put("region", region);
        return m;
    }

    ClientOptions fastRetries() {
        return ClientOptions.defaults().backoff(Duration.ofMillis(5), Duration.ofMillis(20));
    }

    @Test
    void predictsAndSendsMissingValuesAsNull() {
        script = (ex, req, n) -> ok(ex, req);
        ScoringClient c = new ScoringClient(url(), fastRetries());
        Prediction p = c.predict("credit_risk", rec(80000.0, null));
        assertEquals("1", p.label());
        assertEquals(0.8, p.probability("1"), 1e-12);
        assertEquals("3", p.version());
        assertEquals("http:onnx", p.engine());
        assertEquals("/v1/models/credit_risk/predict", paths.get(0));
        JsonObject sent = JsonParser.parseString(bodies.get(0)).getAsJsonObject()
                .getAsJsonArray("records").get(0).getAsJsonObject();
        assertTrue(sent.get("region").isJsonNull(), bodies.get(0));
        // NaN is missing too, and goes out as null rather than breaking the JSON.
        c.predict("credit_risk", rec(Double.NaN, "north"));
        assertTrue(bodies.get(1).contains("\"income\":null"), bodies.get(1));
    }

    @Test
    void pinnedVersionGoesIntoThePath() {
        script = (ex, req, n) -> ok(ex, req);
        new ScoringClient(url(), ClientOptions.defaults().modelVersion("1.10.0")).predict("credit_risk", rec(1.0, "x"));
        assertEquals("/v1/models/credit_risk/versions/1.10.0/predict", paths.get(0));
    }

    @Test
    void regressionAnswers() {
        script = (ex, req, n) -> send(ex, 200, "{\"model\": \"m\", \"version\": \"1\", \"engine\": \"pmml\","
                + " \"predictions\": [{\"prediction\": 12.5}]}");
        Prediction p = new ScoringClient(url()).predict("m", rec(1.0, "x"));
        assertFalse(p.isClassification());
        assertEquals(12.5, p.prediction());
    }

    @Test
    void retries503ThenSucceeds() {
        script = (ex, req, n) -> {
            if (n <= 2) {
                send(ex, 503, "{\"error\": {\"code\": \"unavailable\", \"message\": \"loading\"}}");
            } else {
                ok(ex, req);
            }
        };
        Prediction p = new ScoringClient(url(), fastRetries()).predict("credit_risk", rec(10000.0, "x"));
        assertEquals(0.1, p.probability("1"), 1e-12);
        assertEquals(3, calls.get());
    }

    @Test
    void gives503UpAfterBoundedRetries() {
        script = (ex, req, n) -> send(ex, 503, "{\"error\": {\"code\": \"unavailable\", \"message\": \"busy\"}}");
        ScoringException e = assertThrows(ScoringException.class,
                () -> new ScoringClient(url(), fastRetries().maxRetries(2)).predict("credit_risk", rec(1.0, "x")));
        assertEquals(503, e.status());
        assertEquals(3, calls.get());
    }

    @Test
    void never4xxRetriedAndErrorBodySurfaces() {
        script = (ex, req, n) -> send(ex, 422, "{\"request_id\": \"abc\", \"error\": {\"code\": \"invalid_input\","
                + " \"message\": \"income: expected a number, got 'lots'\", \"field\": \"income\", \"record\": 0}}");
        ScoringException e = assertThrows(ScoringException.class,
                () -> new ScoringClient(url(), fastRetries()).predict("credit_risk", rec("lots", "x")));
        assertEquals(1, calls.get());
        assertEquals(422, e.status());
        assertTrue(e.isClientError());
        assertEquals("invalid_input", e.code());
        assertEquals("income", e.field());
        assertEquals(0, e.record());
        assertEquals("abc", e.requestId());
        assertTrue(e.getMessage().contains("expected a number"));
    }

    @Test
    void batchIsChunkedAndErrorRecordIsGlobal() {
        script = (ex, req, n) -> {
            if (n == 2) {
                send(ex, 400, "{\"error\": {\"code\": \"invalid_input\", \"message\": \"bad\", \"field\": \"region\","
                        + " \"record\": 1}}");
            } else {
                ok(ex, req);
            }
        };
        ScoringClient c = new ScoringClient(url(), fastRetries().maxBatchSize(2));
        List<Map<String, Object>> five = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            five.add(rec(10000.0 * i, "x"));
        }
        ScoringException e = assertThrows(ScoringException.class, () -> c.predictBatch("credit_risk", five));
        assertEquals(3, e.record());
        assertEquals("region", e.field());
        calls.set(0);
        script = (ex, req, n) -> ok(ex, req);
        List<Prediction> ps = c.predictBatch("credit_risk", five);
        assertEquals(5, ps.size());
        assertEquals(3, calls.get());
        assertEquals(0.4, ps.get(4).probability("1"), 1e-12);
    }

    @Test
    void connectionFailureIsRetriedThenReported() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        ScoringClient c = new ScoringClient(URI.create("http://127.0.0.1:" + port), fastRetries().maxRetries(2));
        long t0 = System.nanoTime();
        ScoringException e = assertThrows(ScoringException.class, () -> c.predict("credit_risk", rec(1.0, "x")));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals("connect_failed", e.code());
        assertTrue(e.getMessage().contains("3 attempt"), e.getMessage());
        assertTrue(ms < 2000, "took " + ms + " ms");
    }

    @Test
    void requestTimeoutIsNotRetried() {
        script = (ex, req, n) -> {
            Thread.sleep(1000);
            ok(ex, req);
        };
        ScoringClient c = new ScoringClient(url(), fastRetries().requestTimeout(Duration.ofMillis(150)));
        long t0 = System.nanoTime();
        ScoringException e = assertThrows(ScoringException.class, () -> c.predict("credit_risk", rec(1.0, "x")));
        assertEquals("timeout", e.code());
        assertTrue((System.nanoTime() - t0) / 1_000_000 < 900);
        assertEquals(1, calls.get());
    }

    @Test
    void reusesOneConnectionAndIsThreadSafe() throws Exception {
        script = (ex, req, n) -> ok(ex, req);
        ScoringClient c = new ScoringClient(url());
        for (int i = 0; i < 20; i++) {
            c.predict("credit_risk", rec(1000.0 * i, "x"));
        }
        assertEquals(1, clientPorts.size(), "sequential calls should reuse one keep-alive connection");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Double>> fs = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                double income = 100.0 * i;
                fs.add(pool.submit(() -> c.predict("credit_risk", rec(income, "x")).probability("1")));
            }
            for (int i = 0; i < 200; i++) {
                assertEquals(100.0 * i / 100000.0, fs.get(i).get(), 1e-12);
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(clientPorts.size() <= 9, "connections: " + clientPorts.size());
    }

    @Test
    void fallbackClosesTheConnectionOfACallItGaveUpOn() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        script = (ex, req, n) -> {
            if (n > 1) {
                ok(ex, req);
                return;
            }
            // Headers, then a body that never ends (chunked, a space every 50 ms): the client blocks reading it.
            // When the client closes its end, a write fails.
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, 0);
            OutputStream os = ex.getResponseBody();
            for (int i = 0; i < 100 && closed.getCount() > 0; i++) {
                Thread.sleep(50);
                try {
                    os.write(' ');
                    os.flush();
                } catch (IOException gone) {
                    closed.countDown();
                }
            }
        };
        ScoringClient c = new ScoringClient(url(), fastRetries().requestTimeout(Duration.ofSeconds(10)));
        FallbackPolicy policy = new FallbackPolicy(Duration.ofMillis(150), 1);
        assertNull(policy.call(() -> c.predict("credit_risk", rec(1.0, "x")), null));
        assertEquals(1, policy.timeouts());
        // Well before the 10 s request timeout the blocked read is ended and the only slot is free again.
        assertTrue(closed.await(3, TimeUnit.SECONDS), "the abandoned call's connection was not closed");
        Prediction p = null;
        for (int i = 0; i < 40 && p == null; i++) {
            p = policy.call(() -> c.predict("credit_risk", rec(50000.0, "x")), null);
            Thread.sleep(50);
        }
        assertEquals(0.5, p.probability("1"), 1e-12);
        assertEquals(0, policy.failures());
    }

    @Test
    void nonJsonErrorBodyStillBecomesAScoringException() {
        script = (ex, req, n) -> send(ex, 404, "<html>not here</html>");
        ScoringException e = assertThrows(ScoringException.class, () -> new ScoringClient(url()).predict("nope", rec(1.0, "x")));
        assertEquals(404, e.status());
        assertEquals("http_404", e.code());
        assertNull(e.field());
    }

    @Test
    void chunkedAnswerIsReadWholeAndTheConnectionReused() {
        // no Content-Length (a proxy may re-chunk the service's answer): read to the end of the last chunk
        script = (ex, req, n) -> {
            ex.getResponseHeaders().set("Content-Type", "application/json");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream os = ex.getResponseBody()) {
                os.write("{\"model\": \"credit_risk\", \"version\": \"3\", \"engine\": \"onnx\", \"predictions\": ["
                        .getBytes(StandardCharsets.UTF_8));
                os.flush();
                os.write("{\"prediction\": 2.5}]}".getBytes(StandardCharsets.UTF_8));
            }
        };
        ScoringClient c = new ScoringClient(url());
        for (int i = 0; i < 3; i++) {
            assertEquals(2.5, c.predict("diabetes", rec(1.0, "x")).prediction(), 0.0);
        }
        assertEquals(1, clientPorts.size(), "a fully read chunked answer leaves the connection reusable");
    }

    @Test
    void answerCutShortIsABadResponseAndNotRetried() throws Exception {
        // The body ends (the server closes) before its declared Content-Length: not JSON, not a 200 prediction.
        try (ServerSocket s = new ServerSocket(0, 5, InetAddress.getLoopbackAddress())) {
            AtomicInteger requests = new AtomicInteger();
            Thread t = new Thread(() -> {
                while (!s.isClosed()) {
                    try (var conn = s.accept()) {
                        requests.incrementAndGet();
                        var in = conn.getInputStream();
                        String head = "";
                        while (!head.endsWith("\r\n\r\n")) {
                            head += (char) in.read();
                        }
                        int length = Integer.parseInt(head.replaceAll("(?is).*content-length: *(\\d+).*", "$1"));
                        in.readNBytes(length);
                        conn.getOutputStream().write(("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                + "Content-Length: 400\r\n\r\n{\"model\": \"credit_risk\", \"predictions\": [")
                                .getBytes(StandardCharsets.UTF_8));
                    } catch (IOException closed) {
                        return;
                    }
                }
            });
            t.setDaemon(true);
            t.start();
            ScoringClient c = new ScoringClient(URI.create("http://127.0.0.1:" + s.getLocalPort()), fastRetries());
            ScoringException e = assertThrows(ScoringException.class, () -> c.predict("credit_risk", rec(1.0, "x")));
            assertEquals("bad_response", e.code(), e.getMessage());
            assertEquals(1, requests.get());
        }
    }
}
