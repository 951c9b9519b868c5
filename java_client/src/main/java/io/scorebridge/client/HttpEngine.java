package io.scorebridge.client;

import java.net.URI;
import java.util.ArrayList;
import java.util.List;

/** Scores a model through a {@link ScoringClient}; the engine behind generated {@code http(...)} factories. */
public final class HttpEngine implements Engine {

    private final ScoringClient client;
    private final ModelSpec spec;

    public HttpEngine(ScoringClient client, ModelSpec spec) {
        this.client = client;
        this.spec = spec;
    }

    public HttpEngine(URI baseUrl, ClientOptions options, ModelSpec spec) {
        this(new ScoringClient(baseUrl, options), spec);
    }

    public ScoringClient client() {
        return client;
    }

    @Override
    public ModelSpec spec() {
        return spec;
    }

    @Override
    public Prediction predict(Object[] values) {
        return client.predict(spec.name(), spec.record(values));
    }

    @Override
    public List<Prediction> predictBatch(List<Object[]> rows) {
        List<Record> records = new ArrayList<>(rows.size());
        for (Object[] r : rows) {
            records.add(spec.record(r));
        }
        return client.predictBatch(spec.name(), records);
    }
}
