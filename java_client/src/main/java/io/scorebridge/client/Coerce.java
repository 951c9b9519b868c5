package io.scorebridge.client;

/**
 * Converts loosely typed values (JSON numbers, feature-store rows) to an input's Java type; used by
 * generated {@code fromMap} factories. {@code null} and NaN are missing; a value of the wrong kind is
 * refused with the input's name rather than silently scored as something else.
 */
public final class Coerce {

    private Coerce() {
    }

    public static Double toDouble(String field, Object v) {
        v = Record.missingIfNaN(v);
        if (v == null) {
            return null;
        }
        if (v instanceof Number) {
            return ((Number) v).doubleValue();
        }
        throw wrong(field, "a number", v);
    }

    public static Long toLong(String field, Object v) {
        v = Record.missingIfNaN(v);
        if (v == null) {
            return null;
        }
        if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Number) {
            double d = ((Number) v).doubleValue();
            // JSON and pandas turn integer columns with missing values into floats: accept whole numbers.
            if (d == Math.rint(d) && Math.abs(d) < 9.007199254740992E15) {
                return (long) d;
            }
        }
        throw wrong(field, "an integer", v);
    }

    public static String toText(String field, Object v) {
        if (v == null || v instanceof String) {
            return (String) v;
        }
        if (Record.missingIfNaN(v) == null) {
            return null;
        }
        throw wrong(field, "a string", v);
    }

    public static Boolean toBoolean(String field, Object v) {
        if (v == null || v instanceof Boolean) {
            return (Boolean) v;
        }
        if (Record.missingIfNaN(v) == null) {
            return null;
        }
        throw wrong(field, "a boolean", v);
    }

    private static IllegalArgumentException wrong(String field, String expected, Object v) {
        return new IllegalArgumentException("input '" + field + "': expected " + expected + ", got "
                + v.getClass().getSimpleName() + " " + v);
    }
}
