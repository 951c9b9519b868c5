package io.scorebridge.client;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonWriter;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.StringWriter;
import java.net.HttpURLConnection;
import java.net.MalformedURLException;
import java.net.Proxy;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.URL;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * HTTP client of the scorebridge scoring service ({@code POST /v1/models/{name}[/versions/{v}]/predict}).
 *
 * <p>One instance is meant to be shared: it is thread-safe and keeps its connections alive for reuse.
 * Connection failures and 503 answers are retried with exponential backoff and jitter, at most
 * {@link ClientOptions#maxRetries()} times; a 4xx is never retried and becomes a {@link ScoringException}
 * carrying the service's error code, field and record index. A request that runs past
 * {@link ClientOptions#requestTimeout()} fails with code {@code timeout} and is not retried (the
 * caller's time budget is already spent).
 *
 * <p>Transport: blocking HTTP/1.1 in the caller's thread ({@link HttpURLConnection}, the JDK's keep-alive
 * connection cache, no proxy, no redirects). Measured against {@code java.net.http.HttpClient}, which hands
 * every exchange between the caller, its executor and its selector thread (about 18 context switches and
 * several times the CPU per single-record call on loopback, against 1.4), this keeps the client's share of a
 * call's latency small. The request is written in one piece (header and body together), so Nagle's algorithm
 * never holds the body back. A call blocked on the network is not interruptible; it ends at the request
 * timeout, or at once when a {@link FallbackPolicy} gives up on it (the policy closes its connection).
 * Loading this class raises the JDK's {@code http.maxConnections} (idle connections kept per server) from 5 to
 * 64 unless it is set: set it yourself ({@code -Dhttp.maxConnections=N}) to choose.
 */
public final class ScoringClient {

    private static final String USER_AGENT = "scorebridge-java/0.1.0";

    static {
        // The JDK keeps at most http.maxConnections (default 5) idle connections per server; a service calling
        // from more threads than that would open and close connections all the time. Raise it unless set.
        if (System.getProperty("http.maxConnections") == null) {
            System.setProperty("http.maxConnections", "64");
        }
    }

    private final URI baseUrl;
    private final ClientOptions options;
    private final Map<String, URL> urls = new ConcurrentHashMap<>();
    private final Map<URL, String> urlTexts = new ConcurrentHashMap<>();  // for error messages, built once
    private final Map<String, String> entities = new ConcurrentHashMap<>();  // model -> its entity key field

    public ScoringClient(URI baseUrl) {
        this(baseUrl, ClientOptions.defaults());
    }

    public ScoringClient(URI baseUrl, ClientOptions options) {
        String s = baseUrl.toString();
        this.baseUrl = URI.create(s.endsWith("/") ? s.substring(0, s.length() - 1) : s);
        this.options = options;
    }

    public URI baseUrl() {
        return baseUrl;
    }

    public ClientOptions options() {
        return options;
    }

    /** Scores one record (input name to value; {@code null} or absent means missing). */
    public Prediction predict(String model, Map<String, ?> record) {
        return send(model, Collections.singletonList(record), 0).get(0);
    }

    /** Scores many records, in requests of at most {@link ClientOptions#maxBatchSize()} records. */
    public List<Prediction> predictBatch(String model, List<? extends Map<String, ?>> records) {
        List<Prediction> out = new ArrayList<>(records.size());
        for (int start = 0; start < records.size(); start += options.maxBatchSize()) {
            int end = Math.min(records.size(), start + options.maxBatchSize());
            out.addAll(send(model, records.subList(start, end), start));
        }
        return out;
    }

    /**
     * The field a record sent by key carries its key in for {@code model}: the entity of the model's feature set,
     * as the service's {@code /readyz} names it (asked once, then cached).
     *
     * @throws ScoringException {@code no_feature_set} when the service does not look up keys for the model
     */
    public String entityKey(String model) {
        String known = entities.get(model);
        if (known != null) {
            return known;
        }
        String entity = null;
        try {
            HttpURLConnection c = (HttpURLConnection) toUrl(URI.create(baseUrl + "/readyz")).openConnection(
                    Proxy.NO_PROXY);
            c.setConnectTimeout(millis(options.connectTimeout().toNanos()));
            c.setReadTimeout(millis(options.requestTimeout().toNanos()));
            c.setRequestProperty("User-Agent", USER_AGENT);
            int status = c.getResponseCode();
            InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
            String text = in == null ? "" : new String(in.readAllBytes(), StandardCharsets.UTF_8);
            JsonObject sets = JsonParser.parseString(text).getAsJsonObject().getAsJsonObject("feature_store")
                    .getAsJsonObject("sets");
            JsonObject set = sets.has(model) ? sets.getAsJsonObject(model) : null;
            entity = set == null ? null : text(set, "entity", null);
        } catch (IOException | RuntimeException e) {
            // not JSON, or no feature_store member: the service does no lookups
        }
        if (entity == null) {
            throw new ScoringException("no_feature_set", "the service at " + baseUrl + " scores no record of '" + model
                    + "' by key: serve it with --feature-store (and publish its feature set, or name the key with "
                    + "--feature-set " + model + "=SET:KEY)", null);
        }
        entities.put(model, entity);
        return entity;
    }

    URI predictUri(String model) {
        String path = "/v1/models/" + segment(model)
                + (options.modelVersion() == null ? "" : "/versions/" + segment(options.modelVersion())) + "/predict";
        return URI.create(baseUrl + path);
    }

    private static String segment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private List<Prediction> send(String model, List<? extends Map<String, ?>> records, int offset) {
        URL url = urls.computeIfAbsent(model, m -> toUrl(predictUri(m)));
        byte[] payload = body(records).getBytes(StandardCharsets.UTF_8);
        for (int attempt = 0; ; attempt++) {
            Response response;
            try {
                response = exchange(url, payload);
            } catch (RequestTimeout e) {
                throw new ScoringException("timeout", "no answer from " + baseUrl + " within "
                        + options.requestTimeout().toMillis() + " ms", e.getCause());
            } catch (IOException e) {
                if (Thread.currentThread().isInterrupted()) {
                    throw new ScoringException("interrupted", "interrupted while calling " + baseUrl, e);
                }
                // Refused, unreachable, or a pooled keep-alive connection the server had closed: scoring is
                // idempotent, so this counts as a connection failure and is retried.
                if (attempt < options.maxRetries()) {
                    sleep(backoff(attempt, null));
                    continue;
                }
                throw new ScoringException("connect_failed", "cannot connect to " + baseUrl + " after "
                        + (attempt + 1) + " attempt(s): " + e, e);
            }
            if (response.status == 503 && attempt < options.maxRetries()) {
                sleep(backoff(attempt, response.retryAfter));
                continue;
            }
            if (response.status != 200) {
                throw error(response, offset);
            }
            return parse(response.body, records.size());
        }
    }

    /** One POST. A timeout before the connection is up is an IOException (retried); after it, a RequestTimeout. */
    private Response exchange(URL url, byte[] payload) throws IOException {
        long deadline = System.nanoTime() + options.requestTimeout().toNanos();
        HttpURLConnection c = (HttpURLConnection) url.openConnection(Proxy.NO_PROXY);
        c.setRequestMethod("POST");
        c.setInstanceFollowRedirects(false);
        c.setUseCaches(false);
        c.setDoOutput(true);
        c.setRequestProperty("Content-Type", "application/json");
        c.setRequestProperty("Accept", "application/json");
        c.setRequestProperty("User-Agent", USER_AGENT);
        c.setConnectTimeout(millis(Math.min(options.connectTimeout().toNanos(), deadline - System.nanoTime())));
        c.setReadTimeout(millis(deadline - System.nanoTime()));
        Cancel.register(c);
        try {
            c.connect();  // a keep-alive connection from the JDK's cache, or a new one within the connect timeout
            try {
                // Buffered (no fixed-length streaming): header and body leave in one write.
                try (OutputStream out = c.getOutputStream()) {
                    out.write(payload);
                }
                int status = c.getResponseCode();
                InputStream in = status >= 400 ? c.getErrorStream() : c.getInputStream();
                String text = "";
                if (in != null) {
                    // read to the end and close: that hands the connection back to the keep-alive cache
                    try (InputStream body = in) {
                        text = new String(readBody(body, c.getContentLengthLong()), StandardCharsets.UTF_8);
                    }
                }
                if (status == 200) {  // the headers below serve errors only
                    return new Response(status, text, null, null, null);
                }
                return new Response(status, text, c.getHeaderField("Retry-After"), c.getHeaderField("X-Request-ID"),
                        urlTexts.computeIfAbsent(url, URL::toString));
            } catch (SocketTimeoutException e) {
                c.disconnect();
                throw new RequestTimeout(e);
            }
        } finally {
            Cancel.unregister();
        }
    }

    /**
     * The whole body, as {@code readAllBytes} reads it (the JDK's stream ends at the declared length; a body cut
     * short stays short and fails as JSON), but into one exact-size buffer when the length is declared (the
     * service's case) instead of 8 KB chunks and a copy.
     */
    private static byte[] readBody(InputStream in, long length) throws IOException {
        return length < 0 || length > MAX_EXACT_READ ? in.readAllBytes() : in.readNBytes((int) length);
    }

    private static final long MAX_EXACT_READ = 1 << 24;

    private static int millis(long nanos) {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, TimeUnit.NANOSECONDS.toMillis(nanos)));
    }

    private static URL toUrl(URI uri) {
        try {
            return uri.toURL();
        } catch (MalformedURLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("not an http URL: " + uri, e);
        }
    }

    /** The answer of one exchange. */
    private static final class Response {
        final int status;
        final String body;
        final String retryAfter;
        final String requestId;
        final String uri;

        Response(int status, String body, String retryAfter, String requestId, String uri) {
            this.status = status;
            this.body = body;
            this.retryAfter = retryAfter;
            this.requestId = requestId;
            this.uri = uri;
        }
    }

    /** The request timeout ran out after the request was sent: not retried. */
    private static final class RequestTimeout extends IOException {
        private static final long serialVersionUID = 1L;

        RequestTimeout(SocketTimeoutException cause) {
            super(cause);
        }
    }

    static String body(List<? extends Map<String, ?>> records) {
        StringWriter sw = new StringWriter(64 + 64 * records.size());
        try (JsonWriter w = new JsonWriter(sw)) {
            w.setSerializeNulls(true);
            w.beginObject().name("records").beginArray();
            for (Map<String, ?> r : records) {
                w.beginObject();
                for (Map.Entry<String, ?> e : r.entrySet()) {
                    w.name(e.getKey());
                    writeValue(w, e.getValue());
                }
                w.endObject();
            }
            w.endArray().endObject();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return sw.toString();
    }

    private static void writeValue(JsonWriter w, Object v) throws IOException {
        v = Record.missingIfNaN(v);
        if (v == null) {
            w.nullValue();
        } else if (v instanceof Number) {
            w.value((Number) v);
        } else if (v instanceof Boolean) {
            w.value((Boolean) v);
        } else {
            w.value(v.toString());
        }
    }

    private long backoff(int attempt, String retryAfter) {
        long max = options.maxBackoff().toMillis();
        if (retryAfter != null) {
            try {
                return Math.min(max, Long.parseLong(retryAfter.trim()) * 1000L);
            } catch (NumberFormatException ignored) {
                // an HTTP date: fall through to our own backoff
            }
        }
        long base = Math.min(max, options.initialBackoff().toMillis() << Math.min(attempt, 20));
        // Equal jitter: spread retries of many clients without dropping below half the backoff.
        return base / 2 + ThreadLocalRandom.current().nextLong(base / 2 + 1);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ScoringException("interrupted", "interrupted while backing off", e);
        }
    }

    private ScoringException error(Response response, int offset) {
        int status = response.status;
        String requestId = response.requestId;
        String code = status == 503 ? "unavailable" : "http_" + status;
        String message = "HTTP " + status + " from " + response.uri;
        String field = null;
        Integer record = null;
        try {
            JsonObject root = JsonParser.parseString(response.body).getAsJsonObject();
            if (root.has("request_id") && !root.get("request_id").isJsonNull()) {
                requestId = root.get("request_id").getAsString();
            }
            JsonObject err = root.getAsJsonObject("error");
            code = text(err, "code", code);
            message = text(err, "message", message);
            field = text(err, "field", null);
            JsonElement r = err.get("record");
            if (r != null && !r.isJsonNull()) {
                record = r.getAsInt() + offset;
            }
        } catch (RuntimeException notJson) {
            String b = response.body == null ? "" : response.body.strip();
            if (!b.isEmpty()) {
                message += ": " + (b.length() > 200 ? b.substring(0, 200) + "..." : b);
            }
        }
        return new ScoringException(status, code, message, field, record, requestId, null);
    }

    private static String text(JsonObject o, String key, String dflt) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? dflt : e.getAsString();
    }

    private static List<Prediction> parse(String body, int expected) {
        JsonObject root;
        try {
            root = JsonParser.parseString(body).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new ScoringException("bad_response", "the service answered 200 with a body that is not JSON", e);
        }
        String model = text(root, "model", null);
        String version = text(root, "version", null);
        String engine = "http:" + text(root, "engine", "?");
        JsonArray preds = root.getAsJsonArray("predictions");
        if (preds == null || preds.size() != expected) {
            throw new ScoringException("bad_response", "expected " + expected + " predictions, got "
                    + (preds == null ? "none" : preds.size()), null);
        }
        List<Prediction> out = new ArrayList<>(expected);
        for (JsonElement pe : preds) {
            JsonObject p = pe.getAsJsonObject();
            Prediction one;
            if (p.has("probabilities") || p.has("label")) {
                Map<String, Double> probs = new LinkedHashMap<>();
                JsonObject po = p.has("probabilities") && p.get("probabilities").isJsonObject()
                        ? p.getAsJsonObject("probabilities") : new JsonObject();
                for (Map.Entry<String, JsonElement> e : po.entrySet()) {
                    probs.put(e.getKey(), e.getValue().isJsonNull() ? Double.NaN : e.getValue().getAsDouble());
                }
                one = Prediction.classification(text(p, "label", null), probs, model, version, engine);
            } else {
                JsonElement y = p.get("prediction");
                one = Prediction.regression(y == null || y.isJsonNull() ? Double.NaN : y.getAsDouble(),
                        model, version, engine);
            }
            JsonElement features = p.get("features");  // a record sent by key
            if (features != null && features.isJsonObject()) {
                JsonObject f = features.getAsJsonObject();
                JsonElement fallback = f.get("fallback");
                one = one.withFeatures(text(f, "batch", null),
                        fallback != null && !fallback.isJsonNull() && fallback.getAsBoolean(), text(f, "error", null));
            }
            out.add(one);
        }
        return out;
    }
}
