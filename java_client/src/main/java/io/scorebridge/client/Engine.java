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

    /** The model this engine scores. */
    ModelSpec spec();
}
