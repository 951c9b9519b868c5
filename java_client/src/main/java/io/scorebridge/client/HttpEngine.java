package io.scorebridge.client;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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

    /**
     * What generated {@code http(URI, Path, ClientOptions)} factories call: reads the bundle {@code bundle} names
     * (a bundle directory, {@code <repo>/<name>} or {@code <repo>/<name>@<version>}, see {@link BundleRef}),
     * checks that it matches the generated client, and pins the service to that bundle's version.
     */
    public static HttpEngine forBundle(URI baseUrl, Path bundle, ClientOptions options, ModelSpec generated) {
        Path dir = BundleRef.resolve(bundle);
        ModelSpec found = ModelSpec.fromManifest(dir.resolve(BundleRef.MANIFEST));
        generated.requireCompatible(found, dir.toString());
        return new HttpEngine(new ScoringClient(baseUrl, options.modelVersion(found.version())), found);
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

    /** Sends each keyed row as its key (under the field the service names) and the inputs set. */
    @Override
    public List<Prediction> predictKeyed(List<KeyedRow> rows) {
        String entity = null;
        String[] names = spec.inputNameArray();
        List<Map<String, Object>> records = new ArrayList<>(rows.size());
        for (KeyedRow r : rows) {
            Map<String, Object> m = new LinkedHashMap<>();
            if (r.key() != null) {
                if (entity == null) {
                    entity = client.entityKey(spec.name());
                }
                m.put(entity, r.key());
            }
            for (int i = 0; i < names.length; i++) {
                if (r.sent(i)) {
                    m.put(names[i], r.values()[i]);
                }
            }
            records.add(m);
        }
        return client.predictBatch(spec.name(), records);
    }
}
