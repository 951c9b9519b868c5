package io.scorebridge.client;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Bundle references, resolved exactly as the Python side does ({@code scorebridge/bundle.py::resolve}):
 * a bundle directory ({@code models/credit_risk/3}), {@code <repo>/<name>} for its latest version
 * ({@code models/credit_risk}), or {@code <repo>/<name>@<version>} ({@code models/credit_risk@3},
 * {@code @latest} too).
 *
 * <p>"Latest" is the highest version in natural order: digit runs compare as numbers
 * ({@code 2 < 10}, {@code 1.2.0 < 1.10.0}); a version is a directory (not starting with {@code .})
 * holding a {@code manifest.json}. Failures are a one-line {@link ModelLoadException} naming what was
 * looked for.
 */
public final class BundleRef {

    /** The manifest's file name in a bundle directory. */
    public static final String MANIFEST = "manifest.json";

    private static final Pattern PART = Pattern.compile("[0-9]+|[^0-9]+");

    private BundleRef() {
    }

    /** The bundle directory {@code ref} names. */
    public static Path resolve(Path ref) {
        return resolve(ref.toString());
    }

    /** The bundle directory {@code ref} names (a path, optionally followed by {@code @<version>}). */
    public static Path resolve(String ref) {
        String text = ref;
        String version = null;
        int at = ref.lastIndexOf('@');
        if (at >= 0) {
            text = ref.substring(0, at);
            version = ref.substring(at + 1);
        }
        Path path = Path.of(text);
        if (version == null && Files.isRegularFile(path.resolve(MANIFEST))) {
            return path;
        }
        if (!Files.isDirectory(path)) {
            throw new ModelLoadException("no bundle at " + quote(ref)
                    + ": expected a bundle directory or <repo>/<name>[@version]");
        }
        List<String> versions = versions(path);
        if (versions.isEmpty()) {
            throw new ModelLoadException(quote(text) + " holds no bundle versions (no */" + MANIFEST + ")");
        }
        if (version == null || version.isEmpty() || version.equals("latest")) {
            return path.resolve(versions.get(versions.size() - 1));
        }
        if (!versions.contains(version)) {
            Path name = path.getFileName();
            throw new ModelLoadException("model " + quote(name == null ? text : name.toString()) + " has no version "
                    + quote(version) + "; available: " + String.join(", ", versions));
        }
        return path.resolve(version);
    }

    /** Versions under {@code <repo>/<name>} that hold a manifest, oldest first (natural order). */
    public static List<String> versions(Path modelDir) {
        List<String> found = new ArrayList<>();
        try (Stream<Path> children = Files.list(modelDir)) {
            children.forEach(p -> {
                String n = p.getFileName().toString();
                if (!n.startsWith(".") && Files.isDirectory(p) && Files.isRegularFile(p.resolve(MANIFEST))) {
                    found.add(n);
                }
            });
        } catch (IOException e) {
            throw new ModelLoadException("cannot list " + quote(modelDir.toString()) + ": " + e.getMessage(), e);
        }
        found.sort(BundleRef::compareVersions);
        return found;
    }

    /**
     * Natural order of versions: the parts are runs of digits (compared as numbers, before any text) and runs
     * of other characters (compared as text); a version that is a prefix of another comes first.
     */
    public static int compareVersions(String a, String b) {
        Matcher ma = PART.matcher(a);
        Matcher mb = PART.matcher(b);
        while (true) {
            boolean ha = ma.find();
            boolean hb = mb.find();
            if (!ha || !hb) {
                return Boolean.compare(ha, hb);
            }
            String pa = ma.group();
            String pb = mb.group();
            boolean da = isDigit(pa.charAt(0));
            boolean db = isDigit(pb.charAt(0));
            int c = da != db ? (da ? -1 : 1) : da ? new BigInteger(pa).compareTo(new BigInteger(pb)) : pa.compareTo(pb);
            if (c != 0) {
                return c;
            }
        }
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** Python's repr of a plain string: single quotes, as the Python side's messages show references. */
    static String quote(String s) {
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'";
    }
}
