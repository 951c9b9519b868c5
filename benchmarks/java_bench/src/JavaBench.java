import com.google.gson.JsonElement;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.scorebridge.client.ClientOptions;
import io.scorebridge.client.PmmlOptions;
import io.scorebridge.client.PmmlScorer;
import io.scorebridge.client.ScoringClient;

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.net.HttpURLConnection;
import java.net.Proxy;
import java.net.Socket;
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
 * http BASE_URL MODEL ROWS.jsonl MIN_WARMUP_CALLS MAX_WARMUP_S
 *     ScoringClient.predict(one record) against a running service, in one JVM kept warm like a long-running
 *     service's: warms up (see {@link #warmUp}), prints a JSON line about the warm-up, then reads lines from
 *     stdin: each number N runs N measured calls and prints their p50/p99/mean ms and what the JVM did
 *     meanwhile (GC pauses, JIT time); EOF ends. The driver runs wrk between blocks, while this JVM idles.
 * transports BASE_URL MODEL ROWS.jsonl CALLS ROUNDS MIN_WARMUP_CALLS MAX_WARMUP_S
 *     where a single-record call's time goes, per transport: ScoringClient, java.net.http.HttpClient (default
 *     executor, and a direct one), HttpURLConnection with a fixed-length streaming body, and a raw socket
 *     (the floor of a JVM client: one write, no HTTP library). Rounds alternate the transports; each reports
 *     p50/p99 ms, the client process's CPU time and context switches per call.
 * </pre>
 * inproc and transports print one JSON object per run.
 */
public class JavaBench {

    public static void main(String[] args) throws Exception {
        if (args[0].equals("inproc")) {
            inproc(Path.of(args[1]), rows(Path.of(args[2])), args[3].equals("transpiled"),
                    Double.parseDouble(args[4]), Integer.parseInt(args[5]), Double.parseDouble(args[6]));
        } else if (args[0].equals("transports")) {
            transports(URI.create(args[1]), args[2], rows(Path.of(args[3])), Integer.parseInt(args[4]),
                    Integer.parseInt(args[5]), Integer.parseInt(args[6]), Double.parseDouble(args[7]));
        } else if (args[0].equals("http")) {
            http(URI.create(args[1]), args[2], rows(Path.of(args[3])), Integer.parseInt(args[4]),
                    Double.parseDouble(args[5]));
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

    /** Timed single-record calls of one transport, cycling over the records. */
    static final class Timed {
        final Call call;
        final List<Map<String, Object>> records;
        int next;

        Timed(Call call, List<Map<String, Object>> records) {
            this.call = call;
            this.records = records;
        }

        /** Runs {@code calls} calls; returns their latencies in ms, sorted, and the block's seconds appended. */
        double[] run(int calls) throws Exception {
            double[] ms = new double[calls + 1];
            long all = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                long t0 = System.nanoTime();
                call.run(records.get(next++ % records.size()));
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
            ms[calls] = Double.MAX_VALUE;  // sorts last
            Arrays.sort(ms);
            ms[calls] = (System.nanoTime() - all) / 1e9;
            return ms;
        }
    }

    /** What a warm-up step runs: blocks of timed calls (the code the measured rounds run); returns calls made. */
    interface Step {
        int run() throws Exception;
    }

    /**
     * Runs {@code step} until the JIT has settled: at least {@code minCalls} calls, then until a {@value #QUIET_S}
     * s stretch in which the compiler threads used under {@value #QUIET_COMPILE_MS} ms of CPU, or {@code maxS}
     * seconds. A service that has been up for a while runs fully compiled code; a round that starts after a fixed
     * few thousand calls would measure C2 compiling HttpURLConnection and Gson on the same two cores as the server
     * (about 6 s of compiler CPU over the first ~12,000 calls here). Returns {calls, nanoseconds, compiler CPU ms,
     * settled 0/1}.
     */
    static long[] warmUp(Step step, int minCalls, double maxS) throws Exception {
        long start = System.nanoTime();
        long deadline = start + (long) (maxS * 1e9);
        long windowStart = start;
        long windowJit = compilerCpuMs();
        long n = 0;
        boolean settled = false;
        while (true) {
            n += step.run();
            long now = System.nanoTime();
            if (now - windowStart >= QUIET_S * 1e9) {
                long spent = compilerCpuMs() - windowJit;
                if (n >= minCalls && spent < QUIET_COMPILE_MS) {
                    settled = true;
                    break;
                }
                windowStart = now;
                windowJit += spent;
            }
            if (now > deadline && n >= minCalls) {
                break;
            }
        }
        return new long[] {n, System.nanoTime() - start, compilerCpuMs(), settled ? 1 : 0};
    }

    /**
     * CPU ms the JIT compiler threads have used (Linux: /proc/self/task/N/stat). Unlike the
     * CompilationMXBean's total, which grows when a compilation ends, this also counts one still running (a C2
     * compile of a large method takes seconds on a busy core). Falls back to the MXBean elsewhere.
     */
    static long compilerCpuMs() throws IOException {
        Path tasks = Path.of("/proc/self/task");
        if (!Files.isDirectory(tasks)) {
            return ManagementFactory.getCompilationMXBean().getTotalCompilationTime();
        }
        long ticks = 0;
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(tasks)) {
            for (Path task : dir) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"));
                } catch (IOException threadEnded) {
                    continue;
                }
                // pid (comm) state ... field 14 utime, 15 stime; comm may hold spaces, so split after ')'
                int open = stat.indexOf('('), close = stat.lastIndexOf(')');
                if (stat.substring(open + 1, close).contains("CompilerThre")) {
                    String[] f = stat.substring(close + 2).split(" ");
                    ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                }
            }
        }
        return ticks * 1000 / CLOCK_TICKS;
    }

    static final long CLOCK_TICKS = 100;  // USER_HZ: 100 on every Linux architecture the JDK runs on

    static final double QUIET_S = 2.0;
    static final long QUIET_COMPILE_MS = 10;

    static void http(URI url, String model, List<Map<String, Object>> records, int minWarmup, double maxWarmupS)
            throws Exception {
        ScoringClient client = new ScoringClient(url, ClientOptions.defaults());
        Timed timed = new Timed(r -> client.predict(model, r), records);
        List<GarbageCollectorMXBean> gcs = ManagementFactory.getGarbageCollectorMXBeans();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // Warm-up blocks are measured and reported (the report discarded) like a round: the code after the warm-up
        // must load no new class, since that can invalidate compiled code of the HTTP path (class hierarchy
        // dependencies) and have C2 recompile it during the first round.
        String warmLine = warmupLine(new long[4]);
        long[] w = warmUp(() -> {
            block(timed, model, WARMUP_BLOCK, gcs);
            return WARMUP_BLOCK;
        }, minWarmup, maxWarmupS);
        warmLine = warmupLine(w);
        System.out.println(warmLine);
        System.out.flush();
        for (String line; (line = in.readLine()) != null && !line.isBlank(); ) {
            System.out.println(block(timed, model, Integer.parseInt(line.trim()), gcs));
            System.out.flush();
        }
    }

    static String warmupLine(long[] w) {
        return String.format("{\"warmup_calls\": %d, \"warmup_s\": %.1f, \"warmup_jit_cpu_ms\": %d,"
                + " \"jit_settled\": %b}", w[0], w[1] / 1e9, w[2], w[3] == 1);
    }

    /** {@code calls} timed calls, reported as a JSON object with what the JVM did meanwhile (GC, JIT). */
    static String block(Timed timed, String model, int calls, List<GarbageCollectorMXBean> gcs) throws Exception {
        long jit0 = compilerCpuMs();
        long[] gc0 = gcTotals(gcs);
        double[] ms = timed.run(calls);
        long[] gc1 = gcTotals(gcs);
        long jit = compilerCpuMs() - jit0;
        double mean = Arrays.stream(ms, 0, calls).average().orElse(Double.NaN);
        return String.format("{\"mode\": \"http\", \"model\": \"%s\", \"calls\": %d, \"p50_ms\": %.3f,"
                        + " \"p99_ms\": %.3f, \"mean_ms\": %.3f, \"max_ms\": %.3f, \"calls_per_s\": %.1f,"
                        + " \"gcs\": %d, \"gc_ms\": %d, \"jit_cpu_ms\": %d}",
                model, calls, ms[calls / 2], ms[Math.min(calls - 1, (int) (calls * 0.99))], mean, ms[calls - 1],
                calls / ms[calls], gc1[0] - gc0[0], gc1[1] - gc0[1], jit);
    }

    static final int WARMUP_BLOCK = 200;

    /** {collections, milliseconds} summed over the JVM's collectors. */
    static long[] gcTotals(List<GarbageCollectorMXBean> gcs) {
        long[] t = new long[2];
        for (GarbageCollectorMXBean g : gcs) {
            t[0] += Math.max(0, g.getCollectionCount());
            t[1] += Math.max(0, g.getCollectionTime());
        }
        return t;
    }

    /** Nulls are written: a missing value is sent as null, as ScoringClient does. */
    static final com.google.gson.Gson GSON = new com.google.gson.GsonBuilder().serializeNulls().create();

    interface Call {
        void run(Map<String, Object> record) throws Exception;
    }

    static void transports(URI url, String model, List<Map<String, Object>> records, int calls, int rounds,
                           int minWarmup, double maxWarmupS) throws Exception {
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
        RawHttp raw = new RawHttp(predict);
        transports.put("raw-socket", raw::post);
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        Map<String, Timed> timed = new LinkedHashMap<>();
        transports.forEach((name, call) -> timed.put(name, new Timed(call, records)));
        long[] w = warmUp(() -> {  // all of them, in turns, until the JIT has settled
            for (Timed t : timed.values()) {
                t.run(WARMUP_BLOCK / 4);
            }
            return WARMUP_BLOCK / 4;
        }, minWarmup, maxWarmupS);
        System.err.printf("warm-up: %d calls per transport, %.1f s, JIT settled: %b%n", w[0], w[1] / 1e9, w[3] == 1);
        Map<String, List<Double>> ms = new LinkedHashMap<>();
        Map<String, long[]> cost = new LinkedHashMap<>();
        for (int k = 0; k < rounds; k++) {
            for (Map.Entry<String, Timed> e : timed.entrySet()) {
                long cpu0 = os.getProcessCpuTime();
                long sw0 = contextSwitches();
                double[] l = e.getValue().run(calls);
                long[] c = cost.computeIfAbsent(e.getKey(), x -> new long[2]);
                c[0] += os.getProcessCpuTime() - cpu0;
                c[1] += contextSwitches() - sw0;
                List<Double> mine = ms.computeIfAbsent(e.getKey(), x -> new ArrayList<>());
                for (int i = 0; i < calls; i++) {
                    mine.add(l[i]);
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

    /**
     * The floor of a JVM HTTP client: one keep-alive socket (TCP_NODELAY), the request in one write, the answer
     * read by its Content-Length; no HTTP library, no timeouts, no retries. Same JSON encoding as ScoringClient.
     */
    static final class RawHttp {
        private final String host;
        private final int port;
        private final byte[] head;
        private Socket socket;
        private InputStream in;
        private OutputStream out;

        RawHttp(URI predict) {
            host = predict.getHost();
            port = predict.getPort();
            head = ("POST " + predict.getRawPath() + " HTTP/1.1\r\nHost: " + host + ":" + port
                    + "\r\nContent-Type: application/json\r\nContent-Length: ").getBytes(StandardCharsets.ISO_8859_1);
        }

        void post(Map<String, Object> record) throws IOException {
            if (socket == null) {
                socket = new Socket(host, port);
                socket.setTcpNoDelay(true);
                in = new BufferedInputStream(socket.getInputStream());
                out = socket.getOutputStream();
            }
            byte[] body = GSON.toJson(Map.of("records", List.of(record))).getBytes(StandardCharsets.UTF_8);
            ByteArrayOutputStream req = new ByteArrayOutputStream(head.length + body.length + 8);
            req.write(head);
            req.write((body.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
            req.write(body);
            req.writeTo(out);
            int length = -1;
            boolean close = false;
            for (String line = line(); !line.isEmpty(); line = line()) {
                String lower = line.toLowerCase(java.util.Locale.ROOT);
                if (lower.startsWith("content-length:")) {
                    length = Integer.parseInt(lower.substring(15).trim());
                } else if (lower.startsWith("connection:") && lower.contains("close")) {
                    close = true;  // the service recycles kept-alive connections after a few seconds
                }
            }
            JsonParser.parseString(new String(in.readNBytes(length), StandardCharsets.UTF_8));
            if (close) {
                socket.close();
                socket = null;
            }
        }

        private String line() throws IOException {
            StringBuilder sb = new StringBuilder(64);
            for (int c = in.read(); c != '\n'; c = in.read()) {
                if (c < 0) {
                    throw new EOFException("the server closed the connection");
                }
                if (c != '\r') {
                    sb.append((char) c);
                }
            }
            return sb.toString();
        }
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
