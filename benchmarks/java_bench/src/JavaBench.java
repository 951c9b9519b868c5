import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.scorebridge.client.ClientOptions;
import io.scorebridge.client.PmmlOptions;
import io.scorebridge.client.PmmlScorer;
import io.scorebridge.client.ScoringClient;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.ManagementFactory;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * scorebridge Java benchmark: single-record latency of the runtime, one thread, after warm-up.
 *
 * <pre>
 * inproc BUNDLE_DIR ROWS.jsonl plain|transpiled WARMUP_S ROUNDS ROUND_S
 *     µs per record of PmmlScorer.predict(Object[]) cycling over the rows; reports every round's figure and
 *     the median (the JIT on two cores keeps compiling for a while, so rounds are shown, not just one number).
 * http BASE_URL MODEL ROWS.jsonl WARMUP_CALLS CALLS
 *     p50/p99/mean ms of ScoringClient.predict(one record) against a running service (one connection reused).
 * transports BASE_URL MODEL ROWS.jsonl CALLS ROUNDS
 *     where a single-record call's time goes, per transport: ScoringClient, java.net.http.HttpClient (default
 *     executor, and a direct one), HttpURLConnection with a fixed-length streaming body. Rounds alternate the
 *     transports; each reports p50/p99 ms, the client process's CPU time and context switches per call.
 * </pre>
 * Prints one JSON object per run.
 */
public class JavaBench {

    public static void main(String[] args) throws Exception {
        if (args[0].equals("inproc")) {
            inproc(Path.of(args[1]), rows(Path.of(args[2])), args[3].equals("transpiled"),
                    Double.parseDouble(args[4]), Integer.parseInt(args[5]), Double.parseDouble(args[6]));
        } else if (args[0].equals("transports")) {
            transports(URI.create(args[1]), args[2], rows(Path.of(args[3])), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5]));
        } else if (args[0].equals("http")) {
            http(URI.create(args[1]), args[2], rows(Path.of(args[3])), Integer.parseInt(args[4]), Integer.parseInt(args[5]));
        } else {
            throw new IllegalArgumentException("usage: inproc ... | http ...");
        }
    }

    static void inproc(Path bundle, List<Map<String, Object>> records, boolean transpile, double warmupS, int rounds,
                       double roundS) {
        long t0 = System.nanoTime();
        PmmlScorer scorer = PmmlScorer.fromBundle(bundle, PmmlOptions.defaults().transpile(transpile));
        double loadS = (System.nanoTime() - t0) / 1e9;
        // Values in input order, prepared once, as the generated typed clients hand them over.
        Object[][] rows = new Object[records.size()][];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = scorer.spec().toValues(records.get(i));
        }
        double sink = 0;
        long end = System.nanoTime() + (long) (warmupS * 1e9);
        while (System.nanoTime() < end) {
            for (Object[] r : rows) {
                sink += score(scorer, r);
            }
        }
        double[] perRound = new double[rounds];
        for (int k = 0; k < rounds; k++) {
            long n = 0;
            long start = System.nanoTime();
            long stop = start + (long) (roundS * 1e9);
            long now;
            do {
                for (Object[] r : rows) {
                    sink += score(scorer, r);
                }
                n += rows.length;
                now = System.nanoTime();
            } while (now < stop);
            perRound[k] = (now - start) / 1e3 / n;
        }
        double[] sorted = perRound.clone();
        Arrays.sort(sorted);
        System.out.printf("{\"mode\": \"%s\", \"model\": \"%s\", \"load_s\": %.2f, \"us_per_record_median\": %.2f,"
                        + " \"us_per_record_best\": %.2f, \"rounds_us\": %s, \"checksum\": %.6f}%n",
                scorer.engineName(), scorer.spec().name(), loadS, sorted[rounds / 2], sorted[0], Arrays.toString(perRound),
                sink);
    }

    /** A number from the answer, so the JIT cannot drop the call. */
    static double score(PmmlScorer scorer, Object[] row) {
        var p = scorer.predict(row);
        return p.isClassification() ? p.probabilities().values().iterator().next() : p.prediction();
    }

    static void http(URI url, String model, List<Map<String, Object>> records, int warmup, int calls) {
        ScoringClient client = new ScoringClient(url, ClientOptions.defaults());
        for (int i = 0; i < warmup; i++) {
            client.predict(model, records.get(i % records.size()));
        }
        double[] ms = new double[calls];
        long all = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            long t0 = System.nanoTime();
            client.predict(model, records.get(i % records.size()));
            ms[i] = (System.nanoTime() - t0) / 1e6;
        }
        double totalS = (System.nanoTime() - all) / 1e9;
        double mean = Arrays.stream(ms).average().orElse(Double.NaN);
        Arrays.sort(ms);
        System.out.printf("{\"mode\": \"http\", \"model\": \"%s\", \"calls\": %d, \"p50_ms\": %.3f, \"p99_ms\": %.3f,"
                        + " \"mean_ms\": %.3f, \"max_ms\": %.3f, \"calls_per_s\": %.1f}%n",
                model, calls, ms[(int) (calls * 0.50)], ms[Math.min(calls - 1, (int) (calls * 0.99))], mean,
                ms[calls - 1], calls / totalS);
    }

    /** Nulls are written: a missing value is sent as null, as ScoringClient does. */
    static final com.google.gson.Gson GSON = new com.google.gson.GsonBuilder().serializeNulls().create();

    interface Call {
        void run(Map<String, Object> record) throws Exception;
    }

    static void transports(URI url, String model, List<Map<String, Object>> records, int calls, int rounds)
            throws Exception {
        URI predict = URI.create(url + "/v1/models/" + model + "/predict");
        ScoringClient client = new ScoringClient(url, ClientOptions.defaults());
        HttpClient pooled = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
        HttpClient direct = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).executor(Runnable::run).build();
        Map<String, Call> transports = new LinkedHashMap<>();
        transports.put("ScoringClient", r -> client.predict(model, r));
        transports.put("jdk-HttpClient", r -> jdk(pooled, predict, r));
        transports.put("jdk-HttpClient-direct-executor", r -> jdk(direct, predict, r));
        transports.put("HttpURLConnection-streaming", r -> {
            byte[] body = GSON.toJson(Map.of("records", List.of(r))).getBytes(StandardCharsets.UTF_8);
            HttpURLConnection c = (HttpURLConnection) predict.toURL().openConnection(Proxy.NO_PROXY);
            c.setRequestMethod("POST");
            c.setDoOutput(true);
            c.setRequestProperty("Content-Type", "application/json");
            c.setFixedLengthStreamingMode(body.length);  // header, then the body as a second write
            try (OutputStream out = c.getOutputStream()) {
                out.write(body);
            }
            try (InputStream in = c.getInputStream()) {
                JsonParser.parseString(new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
        });
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        Map<String, List<Double>> ms = new LinkedHashMap<>();
        Map<String, long[]> cost = new LinkedHashMap<>();
        for (int k = -1; k < rounds; k++) {  // round -1 warms every transport up
            for (Map.Entry<String, Call> e : transports.entrySet()) {
                int n = k < 0 ? Math.max(calls, 1000) : calls;
                long cpu0 = os.getProcessCpuTime();
                long sw0 = contextSwitches();
                List<Double> mine = ms.computeIfAbsent(e.getKey(), x -> new ArrayList<>());
                for (int i = 0; i < n; i++) {
                    long t0 = System.nanoTime();
                    e.getValue().run(records.get(i % records.size()));
                    if (k >= 0) {
                        mine.add((System.nanoTime() - t0) / 1e6);
                    }
                }
                if (k >= 0) {
                    long[] c = cost.computeIfAbsent(e.getKey(), x -> new long[2]);
                    c[0] += os.getProcessCpuTime() - cpu0;
                    c[1] += contextSwitches() - sw0;
                }
            }
        }
        for (String name : transports.keySet()) {
            double[] l = ms.get(name).stream().mapToDouble(Double::doubleValue).sorted().toArray();
            long[] c = cost.get(name);
            System.out.printf("{\"mode\": \"transport\", \"model\": \"%s\", \"transport\": \"%s\", \"calls\": %d,"
                            + " \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"cpu_us_per_call\": %.1f,"
                            + " \"context_switches_per_call\": %.2f}%n", model, name, l.length, l[l.length / 2],
                    l[Math.min(l.length - 1, (int) (l.length * 0.99))], c[0] / 1e3 / l.length, c[1] / (double) l.length);
        }
    }

    static void jdk(HttpClient http, URI predict, Map<String, Object> r) throws Exception {
        String body = GSON.toJson(Map.of("records", List.of(r)));
        HttpRequest req = HttpRequest.newBuilder(predict).timeout(Duration.ofSeconds(5))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build();
        JsonParser.parseString(http.send(req, HttpResponse.BodyHandlers.ofString()).body());
    }

    /** Voluntary plus involuntary context switches of every thread of this JVM so far (Linux). */
    static long contextSwitches() throws IOException {
        long n = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    for (String line : Files.readAllLines(task.resolve("status"))) {
                        if (line.contains("ctxt_switches")) {
                            n += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (IOException threadEnded) {
                    // a thread that ended between listing and reading
                }
            }
        }
        return n;
    }

    /** JSON lines of input records; integers stay integers (Long), other numbers are doubles. */
    static List<Map<String, Object>> rows(Path file) throws IOException {
        List<Map<String, Object>> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            if (line.isBlank()) {
                continue;
            }
            Map<String, Object> m = new LinkedHashMap<>();
            for (Map.Entry<String, JsonElement> e : JsonParser.parseString(line).getAsJsonObject().entrySet()) {
                m.put(e.getKey(), value(e.getValue()));
            }
            out.add(m);
        }
        return out;
    }

    static Object value(JsonElement v) {
        if (!v.isJsonPrimitive()) {
            return null;
        }
        JsonPrimitive p = v.getAsJsonPrimitive();
        if (p.isBoolean()) {
            return p.getAsBoolean();
        }
        if (p.isNumber()) {
            String s = p.getAsString();
            return s.matches("-?\\d+") ? (Object) Long.parseLong(s) : (Object) p.getAsDouble();
        }
        return p.getAsString();
    }
}
