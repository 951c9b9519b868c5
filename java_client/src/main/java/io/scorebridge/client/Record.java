package io.scorebridge.client;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * A read-only map view over values in a model's input order.
 *
 * <p>It is what the engines hand to JPMML and to the JSON writer, so scoring a record needs no per-call
 * {@code HashMap}: {@link #get} is an index lookup. A {@code NaN} number reads as {@code null} (missing),
 * as on the Python side.
 */
public final class Record extends AbstractMap<String, Object> {

    private final ModelSpec spec;
    private final Object[] values;

    Record(ModelSpec spec, Object[] values) {
        if (values.length != spec.inputCount()) {
            throw new IllegalArgumentException("expected " + spec.inputCount() + " values, got " + values.length);
        }
        this.spec = spec;
        this.values = values;
    }

    ModelSpec spec() {
        return spec;
    }

    Object[] array() {
        return values;
    }

    static Object missingIfNaN(Object v) {
        if (v instanceof Double && ((Double) v).isNaN() || v instanceof Float && ((Float) v).isNaN()) {
            return null;
        }
        return v;
    }

    @Override
    public Object get(Object key) {
        int i = key instanceof String ? spec.indexOf((String) key) : -1;
        return i < 0 ? null : missingIfNaN(values[i]);
    }

    @Override
    public boolean containsKey(Object key) {
        return key instanceof String && spec.indexOf((String) key) >= 0;
    }

    @Override
    public int size() {
        return values.length;
    }

    @Override
    public Set<Map.Entry<String, Object>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Map.Entry<String, Object>> iterator() {
                return new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < values.length;
                    }

                    @Override
                    public Map.Entry<String, Object> next() {
                        if (i >= values.length) {
                            throw new NoSuchElementException();
                        }
                        int k = i++;
                        return new SimpleImmutableEntry<>(spec.inputNameArray()[k], missingIfNaN(values[k]));
                    }
                };
            }

            @Override
            public int size() {
                return values.length;
            }
        };
    }
}
