package io.scorebridge.client;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;

/**
 * One model answer: a label with class probabilities (classification) or a value (regression), plus
 * the model version and engine that produced it ({@code "pmml"}, {@code "http:<service engine>"}, or
 * {@code "default"} for a hand-built fallback value). Immutable.
 */
public final class Prediction {

    private final String label;
    private final String[] classes;
    private final double[] probabilities;
    private final double value;
    private final String model;
    private final String version;
    private final String engine;
    private final boolean keyed;
    private final String featureBatch;
    private final boolean featureFallback;
    private final String featureError;

    private Prediction(String label, String[] classes, double[] probabilities, double value,
                       String model, String version, String engine) {
        this(label, classes, probabilities, value, model, version, engine, false, null, false, null);
    }

    private Prediction(String label, String[] classes, double[] probabilities, double value, String model,
                       String version, String engine, boolean keyed, String featureBatch, boolean featureFallback,
                       String featureError) {
        this.label = label;
        this.classes = classes;
        this.probabilities = probabilities;
        this.value = value;
        this.model = model;
        this.version = version;
        this.engine = engine;
        this.keyed = keyed;
        this.featureBatch = featureBatch;
        this.featureFallback = featureFallback;
        this.featureError = featureError;
    }

    /** This answer with the service's {@code features} annotation of a record sent by key. */
    Prediction withFeatures(String batch, boolean fallback, String error) {
        return new Prediction(label, classes, probabilities, value, model, version, engine, true, batch, fallback,
                error);
    }

    /** Whether the record was sent by key (the service looked its features up). */
    public boolean isKeyed() {
        return keyed;
    }

    /**
     * The date of the feature batch the service filled this keyed record from ({@code "2026-11-30"}), or
     * {@code null}: not sent by key, no batch holds the key, or the lookup failed ({@link #featureError()}).
     */
    public String featureBatch() {
        return featureBatch;
    }

    /** Whether that batch is the previous one (the current batch does not hold the key). */
    public boolean featureFallback() {
        return featureFallback;
    }

    /**
     * {@code "timeout"} or {@code "unavailable"} when the service could not read the feature store for this
     * keyed record (it was scored with the inputs not sent missing); {@code null} otherwise.
     */
    public String featureError() {
        return featureError;
    }

    /** A classification answer; {@code classes} and {@code probabilities} are aligned and not copied. */
    static Prediction classification(String label, String[] classes, double[] probabilities,
                                     String model, String version, String engine) {
        return new Prediction(label, classes, probabilities, Double.NaN, model, version, engine);
    }

    /** A classification answer from a map of class to probability (insertion order kept). */
    public static Prediction classification(String label, Map<String, Double> probabilities,
                                            String model, String version, String engine) {
        String[] cls = probabilities.keySet().toArray(new String[0]);
        double[] p = new double[cls.length];
        for (int i = 0; i < cls.length; i++) {
            Double v = probabilities.get(cls[i]);
            p[i] = v == null ? Double.NaN : v;
        }
        return new Prediction(label, cls, p, Double.NaN, model, version, engine);
    }

    /** A regression answer. */
    public static Prediction regression(double value, String model, String version, String engine) {
        return new Prediction(null, null, null, value, model, version, engine);
    }

    public boolean isClassification() {
        return classes != null;
    }

    /** The predicted class label, as a string (e.g. {@code "1"}). */
    public String label() {
        requireClassification("label()");
        return label;
    }

    /** The probability of class {@code cls}; unknown classes are refused. */
    public double probability(String cls) {
        requireClassification("probability()");
        for (int i = 0; i < classes.length; i++) {
            if (classes[i].equals(cls)) {
                return probabilities[i];
            }
        }
        throw new IllegalArgumentException("unknown class '" + cls + "'; classes are " + Arrays.toString(classes));
    }

    /** Class to probability, in the model's class order (read-only). */
    public Map<String, Double> probabilities() {
        requireClassification("probabilities()");
        return new ProbabilityMap();
    }

    /** The regression prediction. */
    public double prediction() {
        if (isClassification()) {
            throw new IllegalStateException("prediction() is for regression models; use label()/probabilities()");
        }
        return value;
    }

    /** The model name, or {@code null} for a hand-built value. */
    public String model() {
        return model;
    }

    /** The model version that answered, or {@code null}. */
    public String version() {
        return version;
    }

    /** Which engine answered: {@code pmml}, {@code pmml-transpiled}, {@code http:...} or {@code default}. */
    public String engine() {
        return engine;
    }

    private void requireClassification(String what) {
        if (!isClassification()) {
            throw new IllegalStateException(what + " is for classification models; use prediction()");
        }
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Prediction)) {
            return false;
        }
        Prediction p = (Prediction) o;
        return Objects.equals(label, p.label) && Arrays.equals(classes, p.classes)
                && Arrays.equals(probabilities, p.probabilities)
                && Double.compare(value, p.value) == 0;
    }

    @Override
    public int hashCode() {
        return Objects.hash(label, Arrays.hashCode(classes), Arrays.hashCode(probabilities), value);
    }

    @Override
    public String toString() {
        String body = isClassification()
                ? "label=" + label + ", probabilities=" + new LinkedHashMap<>(probabilities())
                : "prediction=" + value;
        String features = !keyed ? "" : ", featureBatch=" + featureBatch + ", featureFallback=" + featureFallback
                + (featureError == null ? "" : ", featureError=" + featureError);
        return "Prediction[" + body + ", model=" + model + (version == null ? "" : "@" + version)
                + ", engine=" + engine + features + "]";
    }

    /** Array-backed view: no map is built per prediction. */
    private final class ProbabilityMap extends AbstractMap<String, Double> {
        @Override
        public Double get(Object key) {
            for (int i = 0; i < classes.length; i++) {
                if (classes[i].equals(key)) {
                    return probabilities[i];
                }
            }
            return null;
        }

        @Override
        public Set<Map.Entry<String, Double>> entrySet() {
            return new AbstractSet<>() {
                @Override
                public Iterator<Map.Entry<String, Double>> iterator() {
                    return new Iterator<>() {
                        private int i;

                        @Override
                        public boolean hasNext() {
                            return i < classes.length;
                        }

                        @Override
                        public Map.Entry<String, Double> next() {
                            if (i >= classes.length) {
                                throw new NoSuchElementException();
                            }
                            int k = i++;
                            return new SimpleImmutableEntry<>(classes[k], probabilities[k]);
                        }
                    };
                }

                @Override
                public int size() {
                    return classes.length;
                }
            };
        }
    }
}
