package io.scorebridge.client;

import java.util.List;

/**
 * One way of scoring a model: over HTTP or in-process. Generated scorers delegate to an engine.
 *
 * <p>Values are passed in the model's input order ({@link ModelSpec#inputNames()}); {@code null} means
 * missing. Implementations are thread-safe.
 */
public interface Engine {

    /** Scores one record given as values in input order. */
    Prediction predict(Object[] values);

    /** Scores many records; the result has one prediction per record, in order. */
    List<Prediction> predictBatch(List<Object[]> rows);

    /**
     * Scores records sent by entity key (see {@link KeyedRow}): only the scoring service can look keys up, so
     * every engine but {@link HttpEngine} refuses them.
     *
     * @throws UnsupportedOperationException for an in-process engine
     */
    default List<Prediction> predictKeyed(List<KeyedRow> rows) {
        throw new UnsupportedOperationException("scoring by key (byKey) needs the scoring service: "
                + getClass().getSimpleName() + " scores in-process and cannot look up the online features of '"
                + spec().name() + "'; use http(...) or send every input");
    }

    /** The model this engine scores. */
    ModelSpec spec();
}
