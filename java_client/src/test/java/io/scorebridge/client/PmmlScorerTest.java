package io.scorebridge.client;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** In-process scoring of the hand-written tree in {@code tiny-tree.pmml} (expected answers are in its header). */
class PmmlScorerTest {

    static final String RESOURCE = "io/scorebridge/client/tiny-tree.pmml";
    static byte[] pmmlBytes;
    static ModelSpec spec;
    static PmmlScorer scorer;

    @BeforeAll
    static void load() throws Exception {
        try (InputStream in = PmmlScorerTest.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            pmmlBytes = in.readAllBytes();
        }
        spec = spec(PmmlScorer.sha256(pmmlBytes));
        scorer = PmmlScorer.fromResource(RESOURCE, spec, PmmlOptions.defaults());
    }

    static ModelSpec spec(String sha) {
        return ModelSpec.builder("tiny", ModelSpec.Task.CLASSIFICATION).version("1")
                .input("income").input("region").addClass("0").addClass("1")
                .labelField("default").probabilityField("0", "probability(0)").probabilityField("1", "probability(1)")
                .pmml("model.pmml", sha).build();
    }

    static void assertP1(double expected, Prediction p) {
        assertEquals(expected, p.probability("1"), 1e-12, p.toString());
        assertEquals(1.0 - expected, p.probability("0"), 1e-12, p.toString());
        assertEquals(expected > 0.5 ? "1" : "0", p.label(), p.toString());
    }

    @Test
    void scoresTheDocumentedBranches() {
        assertP1(0.9, scorer.predict(new Object[] {30000.0, "south"}));
        assertP1(0.7, scorer.predict(new Object[] {30000.0, "north"}));
        assertP1(0.2, scorer.predict(new Object[] {50000.0, "south"}));
        Prediction p = scorer.predict(new Object[] {50000.0, "north"});
        assertEquals("pmml", p.engine());
        assertEquals("1", p.version());
        assertEquals(List.of("0", "1"), new ArrayList<>(p.probabilities().keySet()));
    }

    @Test
    void nullNanAndAbsentAreMissing() {
        // Missing income takes the root's default child (low); missing region the low branch's default.
        assertP1(0.9, scorer.predict(new Object[] {null, "south"}));
        assertP1(0.9, scorer.predict(new Object[] {Double.NaN, "south"}));
        assertP1(0.7, scorer.predict(new Object[] {30000.0, null}));
        Map<String, Object> onlyRegion = new HashMap<>();
        onlyRegion.put("region", "south");
        assertP1(0.9, scorer.predict(onlyRegion));
        // An unseen category is a valid value here (invalidValueTreatment=asIs), not a missing one.
        assertP1(0.7, scorer.predict(new Object[] {30000.0, "atlantis"}));
    }

    @Test
    void unknownFieldIsRefusedWithItsName() {
        ScoringException e = assertThrows(ScoringException.class, () -> scorer.predict(Map.of("incme", 1.0)));
        assertEquals("unknown_field", e.code());
        assertEquals("incme", e.field());
    }

    @Test
    void sha256MismatchIsRefused() {
        ModelSpec wrong = spec("0".repeat(64));
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> PmmlScorer.fromResource(RESOURCE, wrong, PmmlOptions.defaults()));
        assertTrue(e.getMessage().contains("sha256 mismatch"), e.getMessage());
        // An explicit digest overrides the spec's; turning the check off is possible but explicit.
        PmmlScorer.fromResource(RESOURCE, wrong, PmmlOptions.defaults().sha256(spec.pmmlSha256()));
        PmmlScorer.fromResource(RESOURCE, wrong, PmmlOptions.defaults().verifySha256(false));
    }

    @Test
    void loadsABundleDirectoryFromItsManifest(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("model.pmml"), pmmlBytes);
        String manifest = "{\"format_version\": 1, \"name\": \"tiny\", \"version\": \"7\", \"task\": \"classification\","
                + " \"classes\": [0, 1], \"inputs\": [{\"name\": \"income\", \"dtype\": \"float64\"},"
                + " {\"name\": \"region\", \"dtype\": \"string\"}],"
                + " \"artifacts\": {\"pmml\": {\"file\": \"model.pmml\", \"sha256\": \"" + spec.pmmlSha256() + "\"}},"
                + " \"pmml\": {\"label_field\": \"default\", \"probability_fields\": {\"0\": \"probability(0)\","
                + " \"1\": \"probability(1)\"}, \"prediction_field\": null}}";
        Files.writeString(dir.resolve("manifest.json"), manifest, StandardCharsets.UTF_8);
        PmmlScorer fromDir = PmmlScorer.fromBundle(dir, PmmlOptions.defaults());
        assertEquals("7", fromDir.spec().version());
        assertP1(0.9, fromDir.predict(new Object[] {30000.0, "south"}));

        Files.write(dir.resolve("model.pmml"), new String(pmmlBytes, StandardCharsets.UTF_8)
                .replace("recordCount=\"9\"", "recordCount=\"99\"").getBytes(StandardCharsets.UTF_8));
        assertThrows(ModelLoadException.class, () -> PmmlScorer.fromBundle(dir, PmmlOptions.defaults()));
    }

    static String manifest(String version, String artifacts) {
        return "{\"format_version\": 1, \"name\": \"tiny\", \"version\": \"" + version + "\", \"task\": \"classification\","
                + " \"classes\": [0, 1], \"inputs\": [{\"name\": \"income\", \"dtype\": \"float64\"},"
                + " {\"name\": \"region\", \"dtype\": \"string\"}], \"outputs\": [], \"artifacts\": {" + artifacts + "},"
                + " \"pmml\": {\"label_field\": \"default\", \"probability_fields\": {\"0\": \"probability(0)\","
                + " \"1\": \"probability(1)\"}, \"prediction_field\": null}}";
    }

    @Test
    void opensEveryBundleReferenceAndRefusesABundleWithoutPmml(@TempDir Path repo) throws Exception {
        String pmml = "\"pmml\": {\"file\": \"model.pmml\", \"sha256\": \"" + spec.pmmlSha256() + "\"}";
        String onnx = "\"onnx\": {\"file\": \"model.onnx\", \"sha256\": \"00\"}";
        Path model = repo.resolve("tiny");
        for (String v : new String[] {"2", "10"}) {
            Path dir = Files.createDirectories(model.resolve(v));
            Files.write(dir.resolve("model.pmml"), pmmlBytes);
            Files.writeString(dir.resolve("manifest.json"), manifest(v, pmml + ", " + onnx), StandardCharsets.UTF_8);
        }
        Path onnxOnly = Files.createDirectories(model.resolve("11"));
        Files.writeString(onnxOnly.resolve("manifest.json"), manifest("11", onnx), StandardCharsets.UTF_8);

        assertEquals("2", PmmlScorer.open(Path.of(model + "@2"), spec, PmmlOptions.defaults()).spec().version());
        assertEquals("10", PmmlScorer.open(Path.of(model + "@10"), spec, PmmlOptions.defaults()).spec().version());
        assertEquals(List.of("onnx", "pmml"), PmmlScorer.fromBundle(Path.of(model + "@10"), PmmlOptions.defaults())
                .spec().artifacts());
        ModelLoadException e = assertThrows(ModelLoadException.class,
                () -> PmmlScorer.open(model, spec, PmmlOptions.defaults()));  // latest is 11: ONNX only
        assertEquals("bundle tiny@11 at " + onnxOnly + " has no PMML artifact (it has: onnx): in-process scoring needs"
                + " one; score it over HTTP, or re-export it with PMML", e.getMessage());
        assertEquals(List.of("onnx"), ModelSpec.fromBundle(model).artifacts());
        assertFalse(ModelSpec.fromBundle(model).hasArtifact("pmml"));

        e = assertThrows(ModelLoadException.class, () -> PmmlScorer.open(repo.resolve("absent"), spec,
                PmmlOptions.defaults()));
        assertEquals("no PMML file or bundle at '" + repo.resolve("absent") + "': expected a .pmml file, a bundle"
                + " directory or <repo>/<name>[@version]", e.getMessage());
        e = assertThrows(ModelLoadException.class, () -> PmmlScorer.open(Path.of(model + "@3"), spec,
                PmmlOptions.defaults()));
        assertEquals("model 'tiny' has no version '3'; available: 2, 10, 11", e.getMessage());

        // A client generated from the ONNX-only bundle has no digest for a bare .pmml file.
        ModelSpec noPmml = ModelSpec.fromBundle(model);
        Path file = model.resolve("2").resolve("model.pmml");
        e = assertThrows(ModelLoadException.class, () -> PmmlScorer.open(file, noPmml, PmmlOptions.defaults()));
        assertTrue(e.getMessage().contains("generated from a bundle without PMML"), e.getMessage());
    }

    @Test
    void brokenManifestsAreOneLineErrors(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("manifest.json"), "{\"name\": \"tiny\",\n \"version\": ", StandardCharsets.UTF_8);
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> PmmlScorer.fromBundle(dir,
                PmmlOptions.defaults()));
        assertTrue(e.getMessage().startsWith(dir.resolve("manifest.json") + ": unreadable manifest ("), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Files.writeString(dir.resolve("manifest.json"), "{\"name\": \"tiny\", \"version\": \"1\", \"inputs\": [],"
                + " \"artifacts\": {}}", StandardCharsets.UTF_8);
        e = assertThrows(ModelLoadException.class, () -> PmmlScorer.fromBundle(dir, PmmlOptions.defaults()));
        assertEquals(dir.resolve("manifest.json") + ": manifest lacks required key 'task'", e.getMessage());
    }

    @Test
    void batchAndConcurrentCallsAgreeWithSingleCalls() throws Exception {
        List<Object[]> rows = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            rows.add(new Object[] {i % 7 == 0 ? null : 20000.0 + 300.0 * i, i % 3 == 0 ? "south" : i % 5 == 0 ? null : "north"});
        }
        List<Prediction> expected = new ArrayList<>();
        for (Object[] r : rows) {
            expected.add(scorer.predict(r));
        }
        assertEquals(expected, scorer.predictBatch(rows));
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<List<Prediction>>> futures = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                futures.add(pool.submit(() -> scorer.predictBatch(rows)));
            }
            for (Future<List<Prediction>> f : futures) {
                assertEquals(expected, f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void transpiledModelGivesTheSameAnswers() {
        PmmlScorer fast = PmmlScorer.fromResource(RESOURCE, spec, PmmlOptions.defaults().transpile(true));
        assertEquals("pmml-transpiled", fast.engineName());
        Object[][] rows = {{30000.0, "south"}, {30000.0, "north"}, {50000.0, null}, {null, "south"},
                {30000.0, null}, {39999.9, "atlantis"}};
        for (Object[] r : rows) {
            Prediction a = scorer.predict(r);
            Prediction b = fast.predict(r);
            assertEquals(a.label(), b.label());
            assertEquals(a.probability("1"), b.probability("1"), 1e-12);
        }
    }
}
