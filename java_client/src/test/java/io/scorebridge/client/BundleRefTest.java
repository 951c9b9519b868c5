package io.scorebridge.client;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bundle references resolve as on the Python side (tests/java_client also compares the two on the same trees). */
class BundleRefTest {

    static Path version(Path model, String v) throws IOException {
        Path dir = Files.createDirectories(model.resolve(v));
        Files.writeString(dir.resolve("manifest.json"), "{}");
        return dir;
    }

    @Test
    void versionsSortNaturally() {
        List<String> v = new ArrayList<>(Arrays.asList("10", "2", "1.10.0", "1.2.0", "1a", "1", "a", "b2", "b10"));
        v.sort(BundleRef::compareVersions);
        assertEquals(List.of("1", "1.2.0", "1.10.0", "1a", "2", "10", "a", "b2", "b10"), v);  // as Python sorts them
        assertEquals(0, BundleRef.compareVersions("01", "1"));
        assertTrue(BundleRef.compareVersions("99999999999999999999", "100000000000000000000") < 0);
    }

    @Test
    void resolvesEveryKindOfReference(@TempDir Path repo) throws IOException {
        Path model = repo.resolve("churn");
        version(model, "2");
        Path v10 = version(model, "10");
        Path v3 = version(model, "3");
        Files.createDirectories(model.resolve("99"));  // no manifest: not a version
        version(model, ".11");  // hidden: not a version
        assertEquals(v10, BundleRef.resolve(model));
        assertEquals(v10, BundleRef.resolve(model + "@latest"));
        assertEquals(v10, BundleRef.resolve(model + "@"));
        assertEquals(v3, BundleRef.resolve(model + "@3"));
        assertEquals(v3, BundleRef.resolve(v3));
        assertEquals(List.of("2", "3", "10"), BundleRef.versions(model));
    }

    @Test
    void failuresAreOneLineAndNameWhatWasLookedFor(@TempDir Path repo) throws IOException {
        Path model = repo.resolve("churn");
        version(model, "1");
        version(model, "2");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> BundleRef.resolve(model + "@7"));
        assertEquals("model 'churn' has no version '7'; available: 1, 2", e.getMessage());
        e = assertThrows(ModelLoadException.class, () -> BundleRef.resolve(repo.resolve("nope")));
        assertEquals("no bundle at '" + repo.resolve("nope") + "': expected a bundle directory or <repo>/<name>[@version]",
                e.getMessage());
        Files.createDirectories(repo.resolve("empty"));
        e = assertThrows(ModelLoadException.class, () -> BundleRef.resolve(repo.resolve("empty") + "@1"));
        assertEquals("'" + repo.resolve("empty") + "' holds no bundle versions (no */manifest.json)", e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void exceptionMessagesAreFoldedToOneLine() {
        assertEquals("a b c", new ModelLoadException("a\n  b\r\nc\n").getMessage());
    }
}
