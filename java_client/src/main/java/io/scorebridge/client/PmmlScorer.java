package io.scorebridge.client;

import org.jpmml.evaluator.Evaluator;
import org.jpmml.evaluator.EvaluatorUtil;
import org.jpmml.evaluator.HasProbability;
import org.jpmml.evaluator.InputField;
import org.jpmml.evaluator.LoadingModelEvaluatorBuilder;
import org.jpmml.evaluator.OutputField;
import org.jpmml.evaluator.OutputFilters;
import org.jpmml.evaluator.TargetField;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Evaluates a bundle's {@code model.pmml} in-process with JPMML-Evaluator.
 *
 * <p>The file's sha256 is checked against the manifest's before anything is parsed. The evaluator is
 * built once and is thread-safe, so one {@code PmmlScorer} serves all threads. {@code null} (and
 * {@code NaN}) inputs are missing values, exactly as None/NaN on the Python side.
 *
 * <p>Speed: values go to JPMML through an array-backed {@link Record} (no per-call map), result
 * fields are resolved once at load, and intermediate outputs are dropped. With
 * {@link PmmlOptions#transpile(boolean)} the PMML is compiled to Java bytecode by JPMML-Transpiler.
 */
public final class PmmlScorer implements Engine {

    private final ModelSpec spec;
    private final Evaluator evaluator;
    private final String engineName;
    private final String labelField;
    private final String[] probabilityFields;
    private final Object[] categoryValues;
    private final Map<Object, String> labelNames;
    private final String predictionField;

    private PmmlScorer(ModelSpec spec, Evaluator evaluator, boolean transpiled) {
        this.spec = spec;
        this.evaluator = evaluator;
        this.engineName = transpiled ? "pmml-transpiled" : "pmml";
        Set<String> inputs = new HashSet<>();
        for (InputField f : evaluator.getInputFields()) {
            inputs.add(f.getName());
        }
        for (String f : inputs) {
            if (spec.indexOf(f) < 0) {
                throw new ModelLoadException("the PMML needs input '" + f + "', which the model spec "
                        + spec.inputNames() + " does not have; regenerate the client for this bundle");
            }
        }
        Set<String> outputs = new HashSet<>();
        for (OutputField f : evaluator.getOutputFields()) {
            outputs.add(f.getName());
        }
        TargetField target = targetField(spec.isClassification() ? spec.labelField() : spec.predictionField());
        if (spec.isClassification()) {
            this.labelField = target.getName();
            String[] classes = spec.classArray();
            this.probabilityFields = new String[classes.length];
            this.categoryValues = new Object[classes.length];
            this.labelNames = new HashMap<>();
            List<Object> categories = target.getCategories();
            for (int i = 0; i < classes.length; i++) {
                String pf = spec.probabilityField(i);
                probabilityFields[i] = pf != null && outputs.contains(pf) ? pf : null;
                for (Object c : categories == null ? List.of() : categories) {
                    if (sameClass(c, classes[i])) {
                        categoryValues[i] = c;
                        labelNames.put(c, classes[i]);
                    }
                }
                if (probabilityFields[i] == null && categoryValues[i] == null) {
                    throw new ModelLoadException("class '" + classes[i] + "' of model " + spec.name()
                            + " is neither a PMML output field nor a category of target '" + labelField + "'");
                }
            }
            this.predictionField = null;
        } else {
            this.labelField = null;
            this.probabilityFields = null;
            this.categoryValues = null;
            this.labelNames = null;
            this.predictionField = target.getName();
        }
    }

    private TargetField targetField(String preferred) {
        List<TargetField> targets = evaluator.getTargetFields();
        for (TargetField t : targets) {
            if (t.getName().equals(preferred)) {
                return t;
            }
        }
        if (targets.size() != 1) {
            throw new ModelLoadException("the PMML has " + targets.size() + " target fields and none is named '"
                    + preferred + "'");
        }
        // sklearn2pmml may name the target differently from the manifest (e.g. an unnamed y): one target is unambiguous.
        return targets.get(0);
    }

    private static boolean sameClass(Object category, String cls) {
        String s = String.valueOf(category);
        if (s.equals(cls) || (category instanceof Boolean && s.equalsIgnoreCase(cls))) {
            return true;
        }
        if (category instanceof Number) {
            try {
                return Double.parseDouble(cls) == ((Number) category).doubleValue();
            } catch (NumberFormatException e) {
                return false;
            }
        }
        return false;
    }

    /** Loads {@code pmmlFile}, checking its sha256 against {@code spec.pmmlSha256()}. */
    public static PmmlScorer load(Path pmmlFile, ModelSpec spec) {
        return load(pmmlFile, spec, PmmlOptions.defaults());
    }

    public static PmmlScorer load(Path pmmlFile, ModelSpec spec, PmmlOptions options) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(pmmlFile);
        } catch (IOException e) {
            throw new ModelLoadException(pmmlFile + ": cannot read PMML (" + e + ")", e);
        }
        return build(pmmlFile.toString(), bytes, spec, options);
    }

    /** Loads a PMML resource from the classpath ("ship the model file with the predictor class"). */
    public static PmmlScorer fromResource(String resource, ModelSpec spec, PmmlOptions options) {
        String name = resource.startsWith("/") ? resource.substring(1) : resource;
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        if (cl == null || cl.getResource(name) == null) {
            cl = PmmlScorer.class.getClassLoader();
        }
        try (InputStream in = cl.getResourceAsStream(name)) {
            if (in == null) {
                throw new ModelLoadException("classpath resource '" + name + "' not found");
            }
            return build("classpath:" + name, in.readAllBytes(), spec, options);
        } catch (IOException e) {
            throw new ModelLoadException("classpath resource '" + name + "': " + e, e);
        }
    }

    /**
     * Loads a bundle: a bundle directory, {@code <repo>/<name>} (latest) or {@code <repo>/<name>@<version>}
     * (see {@link BundleRef}); its manifest gives the spec and the digest.
     */
    public static PmmlScorer fromBundle(Path bundle, PmmlOptions options) {
        Path dir = BundleRef.resolve(bundle);
        ModelSpec spec = ModelSpec.fromManifest(dir.resolve(BundleRef.MANIFEST));
        return load(pmmlOf(dir, spec), spec, options);
    }

    /**
     * What generated {@code pmml(Path)} factories call. A {@code .pmml} file is checked against the digest the
     * client was generated with. A bundle reference (a bundle directory, {@code <repo>/<name>} or
     * {@code <repo>/<name>@<version>}) is checked against its own manifest, after checking that its inputs and
     * classes are the ones the client was generated for (so a compatible newer version loads).
     */
    public static PmmlScorer open(Path fileOrBundle, ModelSpec generated, PmmlOptions options) {
        if (Files.isRegularFile(fileOrBundle)) {
            if (!generated.hasArtifact("pmml") && options.sha256() == null && options.verifySha256()) {
                throw new ModelLoadException(fileOrBundle + ": the client for " + generated.name() + " was generated"
                        + " from a bundle without PMML, so it has no digest to check this file against; pass the"
                        + " bundle directory (checked against its manifest) or PmmlOptions.sha256(...)");
            }
            return load(fileOrBundle, generated, options);
        }
        String ref = fileOrBundle.toString();
        if (ref.indexOf('@') < 0 && !Files.exists(fileOrBundle)) {
            throw new ModelLoadException("no PMML file or bundle at " + BundleRef.quote(ref)
                    + ": expected a .pmml file, a bundle directory or <repo>/<name>[@version]");
        }
        Path dir = BundleRef.resolve(ref);
        ModelSpec found = ModelSpec.fromManifest(dir.resolve(BundleRef.MANIFEST));
        generated.requireCompatible(found, dir.toString());
        return load(pmmlOf(dir, found), found, options);
    }

    /** The PMML file of a bundle; a bundle without one is refused, naming the artifacts it has. */
    private static Path pmmlOf(Path dir, ModelSpec spec) {
        if (!spec.hasArtifact("pmml")) {
            throw new ModelLoadException("bundle " + spec.name() + "@" + spec.version() + " at " + dir
                    + " has no PMML artifact (it has: " + String.join(", ", spec.artifacts()) + "): in-process"
                    + " scoring needs one; score it over HTTP, or re-export it with PMML");
        }
        return dir.resolve(spec.pmmlFile() == null ? "model.pmml" : spec.pmmlFile());
    }

    private static PmmlScorer build(String where, byte[] bytes, ModelSpec spec, PmmlOptions options) {
        String expected = options.sha256() != null ? options.sha256() : spec.pmmlSha256();
        if (options.verifySha256()) {
            if (expected == null && !spec.hasArtifact("pmml")) {
                throw new ModelLoadException(where + ": model " + spec.name() + " was generated from a bundle without"
                        + " PMML (it has: " + String.join(", ", spec.artifacts()) + "), so there is no digest to check"
                        + " against; pass PmmlOptions.sha256(...) or load a bundle directory that has PMML");
            }
            if (expected == null) {
                throw new ModelLoadException(where + ": no sha256 to check against; pass one in PmmlOptions.sha256()"
                        + " or turn the check off with verifySha256(false)");
            }
            String actual = sha256(bytes);
            if (!actual.equals(expected)) {
                throw new ModelLoadException(where + ": sha256 mismatch (manifest " + expected.substring(0, 12)
                        + "..., file " + actual.substring(0, 12) + "...); the file is not the one this client was"
                        + " generated for: regenerate the client or load the matching bundle");
            }
        }
        try {
            LoadingModelEvaluatorBuilder builder = new LoadingModelEvaluatorBuilder()
                    .setOutputFilter(OutputFilters.KEEP_FINAL_RESULTS);
            builder.load(new ByteArrayInputStream(bytes));
            if (options.transpile()) {
                Transpile.apply(builder);
            }
            Evaluator evaluator = builder.build();
            evaluator.verify();
            return new PmmlScorer(spec, evaluator, options.transpile());
        } catch (ModelLoadException e) {
            throw e;
        } catch (Exception | LinkageError e) {
            throw new ModelLoadException(where + ": cannot load PMML (" + e + ")", e);
        }
    }

    static String sha256(byte[] bytes) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(bytes);
            StringBuilder sb = new StringBuilder(64);
            for (byte b : d) {
                sb.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            }
            return sb.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public ModelSpec spec() {
        return spec;
    }

    /** The underlying JPMML evaluator (thread-safe). */
    public Evaluator evaluator() {
        return evaluator;
    }

    /** {@code pmml} or {@code pmml-transpiled}. */
    public String engineName() {
        return engineName;
    }

    /** Scores one record keyed by input name; absent keys are missing. */
    public Prediction predict(Map<String, ?> record) {
        return predict(spec.toValues(record));
    }

    @Override
    public Prediction predict(Object[] values) {
        Map<String, ?> results;
        try {
            results = evaluator.evaluate(new Record(spec, values));
        } catch (RuntimeException e) {
            throw new ScoringException("evaluation_failed", "PMML evaluation of " + spec.name() + " failed: "
                    + e.getMessage(), e);
        }
        return toPrediction(results);
    }

    @Override
    public List<Prediction> predictBatch(List<Object[]> rows) {
        List<Prediction> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            try {
                out.add(predict(rows.get(i)));
            } catch (ScoringException e) {
                throw new ScoringException(0, e.code(), e.getMessage(), e.field(), i, null, e.getCause());
            }
        }
        return out;
    }

    private Prediction toPrediction(Map<String, ?> results) {
        if (!spec.isClassification()) {
            Object v = EvaluatorUtil.decode(results.get(predictionField));
            return Prediction.regression(v == null ? Double.NaN : ((Number) v).doubleValue(),
                    spec.name(), spec.version(), engineName);
        }
        Object target = results.get(labelField);
        String[] classes = spec.classArray();
        double[] p = new double[classes.length];
        for (int i = 0; i < classes.length; i++) {
            Object v = probabilityFields[i] != null ? results.get(probabilityFields[i])
                    : target instanceof HasProbability ? ((HasProbability) target).getProbability(categoryValues[i]) : null;
            p[i] = v == null ? Double.NaN : ((Number) v).doubleValue();
        }
        Object decoded = EvaluatorUtil.decode(target);
        String label = decoded == null ? null : labelNames.getOrDefault(decoded, String.valueOf(decoded));
        return Prediction.classification(label, classes, p, spec.name(), spec.version(), engineName);
    }
}
