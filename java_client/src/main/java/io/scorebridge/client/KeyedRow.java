package io.scorebridge.client;

/**
 * One record sent by entity key ({@code CreditRiskInput.byKey("c123")}): the key, the values in input order,
 * and which of them were set. The scoring service fills the inputs not set from the model's online feature
 * set; a value set (even {@code null}: missing) wins. A row whose {@code key} is {@code null} is a full record.
 */
public final class KeyedRow {

    private final Object key;
    private final Object[] values;
    private final boolean[] sent;

    public KeyedRow(Object key, Object[] values, boolean[] sent) {
        if (key != null && !(key instanceof String || key instanceof Long || key instanceof Integer)) {
            throw new IllegalArgumentException("an entity key is a String or an integer, got " + key.getClass());
        }
        this.key = key;
        this.values = values;
        this.sent = sent;
    }

    /** The entity key (a {@code String} or an integer), or {@code null} for a full record. */
    public Object key() {
        return key;
    }

    /** The values in input order (not copied: never modify). */
    Object[] values() {
        return values;
    }

    /** Whether input {@code i} was set (a keyed row sends only these). */
    boolean sent(int i) {
        return key == null || sent == null || sent[i];
    }
}
