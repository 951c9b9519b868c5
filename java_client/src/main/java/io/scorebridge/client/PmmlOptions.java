package io.scorebridge.client;

/**
 * How {@link PmmlScorer} loads a PMML file. Immutable; start from {@link #defaults()}.
 */
public final class PmmlOptions {

    private static final PmmlOptions DEFAULTS = new PmmlOptions(false, null, true);

    private final boolean transpile;
    private final String sha256;
    private final boolean verifySha256;

    private PmmlOptions(boolean transpile, String sha256, boolean verifySha256) {
        this.transpile = transpile;
        this.sha256 = sha256;
        this.verifySha256 = verifySha256;
    }

    /** Plain JPMML-Evaluator, sha256 checked against the spec's manifest digest. */
    public static PmmlOptions defaults() {
        return DEFAULTS;
    }

    /**
     * Compile the PMML into Java bytecode with JPMML-Transpiler at load time (needs a JDK and the
     * {@code pmml-transpiler} jar). Loading takes seconds; scoring is several times faster.
     */
    public PmmlOptions transpile(boolean on) {
        return new PmmlOptions(on, sha256, verifySha256);
    }

    /** Expect this sha256 instead of the one in the spec (e.g. from a newer manifest). */
    public PmmlOptions sha256(String hex) {
        return new PmmlOptions(transpile, hex == null ? null : hex.toLowerCase(), verifySha256);
    }

    /** Turn the digest check off; only for files you built yourself. */
    public PmmlOptions verifySha256(boolean on) {
        return new PmmlOptions(transpile, sha256, on);
    }

    public boolean transpile() {
        return transpile;
    }

    public String sha256() {
        return sha256;
    }

    public boolean verifySha256() {
        return verifySha256;
    }
}
