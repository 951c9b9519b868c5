package io.scorebridge.client;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * What the client needs to know about one model version, taken from the bundle's {@code manifest.json}:
 * name, version, task, ordered input names, class labels, and where JPMML puts the results.
 *
 * <p>Generated code embeds a spec as a constant; {@link #fromManifest(Path)} reads one at run time.
 * Immutable and thread-safe.
 */
public final class ModelSpec {

    /** Classification or regression, as in the manifest's {@code task}. */
    public enum Task { CLASSIFICATION, REGRESSION }

    private final String name;
    private final String version;
    private final Task task;
    private final String[] inputNames;
    private final String[] classes;
    private final String labelField;
    private final String[] probabilityFields;
    private final String predictionField;
    private final String pmmlFile;
    private final String pmmlSha256;
    private final List<String> artifacts;
    private final Map<String, Integer> index;

    private ModelSpec(Builder b) {
        this.name = Objects.requireNonNull(b.name, "name");
        this.version = b.version;
        this.task = Objects.requireNonNull(b.task, "task");
        this.inputNames = b.inputNames.toArray(new String[0]);
        this.classes = b.classes.toArray(new String[0]);
        this.labelField = b.labelField;
        this.probabilityFields = new String[classes.length];
        for (int i = 0; i < classes.length; i++) {
            probabilityFields[i] = b.probabilityFields.get(classes[i]);
        }
        this.predictionField = b.predictionField;
        this.pmmlFile = b.pmmlFile;
        this.pmmlSha256 = b.pmmlSha256;
        List<String> arts = new ArrayList<>(b.artifacts);
        if (pmmlSha256 != null && !arts.contains("pmml")) {
            arts.add("pmml");
        }
        Collections.sort(arts);
        this.artifacts = Collections.unmodifiableList(arts);
        Map<String, Integer> idx = new HashMap<>();
        for (int i = 0; i < inputNames.length; i++) {
            if (idx.put(inputNames[i], i) != null) {
                throw new IllegalArgumentException("duplicate input name: " + inputNames[i]);
            }
        }
        this.index = Collections.unmodifiableMap(idx);
        if (task == Task.CLASSIFICATION && classes.length == 0) {
            throw new IllegalArgumentException("a classification model needs its classes");
        }
    }

    public static Builder builder(String name, Task task) {
        return new Builder(name, task);
    }

    /** Reads a bundle's {@code manifest.json}. */
    public static ModelSpec fromManifest(Path manifestJson) {
        JsonObject m;
        try (Reader r = Files.newBufferedReader(manifestJson, StandardCharsets.UTF_8)) {
            m = JsonParser.parseReader(r).getAsJsonObject();
        } catch (IOException | RuntimeException e) {
            throw new ModelLoadException(manifestJson + ": unreadable manifest (" + e.getMessage() + ")", e);
        }
        for (String key : new String[] {"name", "version", "task", "inputs", "artifacts"}) {
            if (!m.has(key) || m.get(key).isJsonNull()) {
                throw new ModelLoadException(manifestJson + ": manifest lacks required key '" + key + "'");
            }
        }
        try {
            return fromManifest(m);
        } catch (RuntimeException e) {
            throw new ModelLoadException(manifestJson + ": malformed manifest (" + e + ")", e);
        }
    }

    /**
     * Reads the manifest of the bundle {@code ref} names: a bundle directory, {@code <repo>/<name>} (latest) or
     * {@code <repo>/<name>@<version>} (see {@link BundleRef}).
     */
    public static ModelSpec fromBundle(Path ref) {
        return fromManifest(BundleRef.resolve(ref).resolve(BundleRef.MANIFEST));
    }

    static ModelSpec fromManifest(JsonObject m) {
        Task task = "regression".equals(m.get("task").getAsString()) ? Task.REGRESSION : Task.CLASSIFICATION;
        Builder b = builder(m.get("name").getAsString(), task).version(string(m, "version"));
        for (JsonElement in : m.getAsJsonArray("inputs")) {
            b.input(in.getAsJsonObject().get("name").getAsString());
        }
        JsonObject pmml = m.has("pmml") && m.get("pmml").isJsonObject() ? m.getAsJsonObject("pmml") : new JsonObject();
        JsonObject probs = pmml.has("probability_fields") && pmml.get("probability_fields").isJsonObject()
                ? pmml.getAsJsonObject("probability_fields") : null;
        if (m.has("classes")) {
            for (JsonElement c : m.getAsJsonArray("classes")) {
                b.addClass(c.getAsString());
            }
        }
        if (probs != null) {
            // The manifest's probability_fields keys are the canonical class strings; prefer them.
            List<String> keys = new ArrayList<>(probs.keySet());
            if (keys.size() == b.classes.size()) {
                b.classes.clear();
                b.classes.addAll(keys);
            }
            for (String k : keys) {
                b.probabilityField(k, probs.get(k).getAsString());
            }
        }
        b.labelField(string(pmml, "label_field")).predictionField(string(pmml, "prediction_field"));
        JsonObject artifacts = m.has("artifacts") && m.get("artifacts").isJsonObject()
                ? m.getAsJsonObject("artifacts") : new JsonObject();
        for (String kind : artifacts.keySet()) {
            b.artifact(kind);
        }
        if (artifacts.has("pmml")) {
            JsonObject a = artifacts.getAsJsonObject("pmml");
            b.pmml(string(a, "file"), string(a, "sha256"));
        }
        return b.build();
    }

    private static String string(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e == null || e.isJsonNull() ? null : e.getAsString();
    }

    public String name() {
        return name;
    }

    /** The model version the spec was taken from, or {@code null} for "latest". */
    public String version() {
        return version;
    }

    public Task task() {
        return task;
    }

    public boolean isClassification() {
        return task == Task.CLASSIFICATION;
    }

    public List<String> inputNames() {
        return Collections.unmodifiableList(Arrays.asList(inputNames));
    }

    String[] inputNameArray() {
        return inputNames;
    }

    public int inputCount() {
        return inputNames.length;
    }

    /** Position of an input in the schema, or -1. */
    public int indexOf(String input) {
        Integer i = index.get(input);
        return i == null ? -1 : i;
    }

    /** Class labels as strings, in the model's order; empty for regression. */
    public List<String> classes() {
        return Collections.unmodifiableList(Arrays.asList(classes));
    }

    String[] classArray() {
        return classes;
    }

    /** The PMML target field holding the label (null: the model's single target). */
    public String labelField() {
        return labelField;
    }

    /** The PMML output field holding the probability of class {@code i}, or {@code null}. */
    String probabilityField(int i) {
        return probabilityFields[i];
    }

    /** The PMML field holding the regression prediction (null: the model's single target). */
    public String predictionField() {
        return predictionField;
    }

    /** The PMML file name in the bundle, or {@code null}. */
    public String pmmlFile() {
        return pmmlFile;
    }

    /** The PMML file's sha256 from the manifest (lowercase hex), or {@code null}. */
    public String pmmlSha256() {
        return pmmlSha256;
    }

    /**
     * The artifacts the bundle holds ({@code onnx}, {@code pmml}, {@code verification}, ...), sorted. A bundle
     * without {@code pmml} cannot be scored in-process; over HTTP it can.
     */
    public List<String> artifacts() {
        return artifacts;
    }

    /** True when the bundle holds artifact {@code kind}. */
    public boolean hasArtifact(String kind) {
        return artifacts.contains(kind);
    }

    /**
     * Refuses {@code other} (e.g. a newer bundle version read at run time) unless it has this spec's task, inputs
     * and classes, in order: then code generated for this spec scores it correctly.
     */
    public void requireCompatible(ModelSpec other, String where) {
        if (other.task != task || !other.inputNames().equals(inputNames())
                || !other.classes().equals(classes())) {
            throw new ModelLoadException(where + ": bundle " + other + " does not match the generated client " + this
                    + "; regenerate the client for this bundle");
        }
    }

    /** Wraps values in input order as a read-only map keyed by input name (no copy). */
    public Record record(Object[] values) {
        return new Record(this, values);
    }

    /** Converts a record keyed by input name to values in input order; unknown names are refused. */
    public Object[] toValues(Map<String, ?> record) {
        if (record instanceof Record && ((Record) record).spec() == this) {
            return ((Record) record).array();
        }
        Object[] values = new Object[inputNames.length];
        for (Map.Entry<String, ?> e : record.entrySet()) {
            int i = indexOf(e.getKey());
            if (i < 0) {
                throw new ScoringException(0, "unknown_field", "unknown input field '" + e.getKey()
                        + "' for model " + name + "; expected one of " + inputNames(), e.getKey(), null, null, null);
            }
            values[i] = e.getValue();
        }
        return values;
    }

    @Override
    public String toString() {
        return "ModelSpec[" + name + (version == null ? "" : "@" + version) + ", " + task.name().toLowerCase()
                + ", inputs=" + inputNames() + (classes.length > 0 ? ", classes=" + classes() : "")
                + ", artifacts=" + artifacts + "]";
    }

    /** Builds a spec; generated code calls this once per model. */
    public static final class Builder {
        private final String name;
        private final Task task;
        private String version;
        private final List<String> inputNames = new ArrayList<>();
        private final List<String> classes = new ArrayList<>();
        private final Map<String, String> probabilityFields = new HashMap<>();
        private String labelField;
        private String predictionField;
        private String pmmlFile;
        private String pmmlSha256;
        private final List<String> artifacts = new ArrayList<>();

        private Builder(String name, Task task) {
            this.name = name;
            this.task = task;
        }

        public Builder version(String v) {
            this.version = v;
            return this;
        }

        public Builder input(String inputName) {
            inputNames.add(inputName);
            return this;
        }

        public Builder addClass(String cls) {
            classes.add(cls);
            return this;
        }

        public Builder probabilityField(String cls, String pmmlField) {
            probabilityFields.put(cls, pmmlField);
            return this;
        }

        public Builder labelField(String f) {
            this.labelField = f;
            return this;
        }

        public Builder predictionField(String f) {
            this.predictionField = f;
            return this;
        }

        public Builder pmml(String file, String sha256) {
            this.pmmlFile = file;
            this.pmmlSha256 = sha256 == null ? null : sha256.toLowerCase();
            return this;
        }

        /** An artifact the bundle holds (a key of the manifest's {@code artifacts}). */
        public Builder artifact(String kind) {
            if (!artifacts.contains(kind)) {
                artifacts.add(kind);
            }
            return this;
        }

        public ModelSpec build() {
            return new ModelSpec(this);
        }
    }
}
