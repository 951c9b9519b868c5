"""Find the JVM toolchain and the jars the Java client needs, and build the runtime with plain ``javac``.

Maven Central is not reachable here, so nothing is downloaded: the JPMML jars come from the
``jpmml-evaluator`` wheel (``jpmml_evaluator/dependencies/*.jar``) and Gson from the ``sklearn2pmml`` wheel
(``resources/gson-*.jar``) or Debian's ``libgoogle-gson-java``. ``java_client/pom.xml`` pins the same
artifacts for Maven builds (:mod:`scorebridge.java.maven` runs those offline, JUnit suite included).

The runtime jar is built once per content: its cache key is a digest of the sources, the dependency jars
and the ``javac`` version, so concurrent or repeated builds reuse it and an edited source rebuilds it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from scorebridge.errors import JavaNotFoundError, ScorebridgeError

#: Java release the runtime and generated code are compiled for (the issue asks for Java 11+).
JAVA_RELEASE = "11"
RUNTIME_JAR_NAME = "scorebridge-client-0.1.0.jar"
_DEBIAN_JAVA = Path("/usr/share/java")


class JavaToolchainError(ScorebridgeError):
    """A jar the Java client needs is not installed."""


class JavaCompileError(ScorebridgeError):
    """``javac`` refused the sources; the message holds its first error lines."""


@dataclass(frozen=True)
class Jdk:
    """The ``java`` and ``javac`` executables to use."""

    java: Path
    javac: Path


def _package_dir(name: str) -> Path | None:
    """The directory of an installed top-level package, without importing it (imports are slow)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=1)
def find_jdk() -> Jdk:
    """The JVM :mod:`scorebridge.jvm` finds, which must also have ``javac`` (a JDK, not a bare JRE)."""
    from scorebridge.jvm import java_home

    home = java_home()
    java, javac = home / "bin" / "java", home / "bin" / "javac"
    if not javac.exists():
        on_path = shutil.which("javac")
        if on_path is None:
            raise JavaNotFoundError(f"the Java runtime at {home} has no javac; the Java client needs a JDK 11+: "
                                    "apt-get install openjdk-17-jdk-headless, or set JAVA_HOME to a JDK")
        javac = Path(on_path)
    return Jdk(java, javac)


def jpmml_jars() -> list[Path]:
    """JPMML-Evaluator (metro), its dependencies and JPMML-Transpiler, as shipped in the wheel."""
    pkg = _package_dir("jpmml_evaluator")
    jars = sorted((pkg / "dependencies").glob("*.jar")) if pkg else []
    if not any(j.name.startswith("pmml-evaluator-") for j in jars):
        raise JavaToolchainError("JPMML-Evaluator jars not found: 'pip install jpmml-evaluator' "
                                 "(its wheel ships them in jpmml_evaluator/dependencies/)")
    return jars


def gson_jar() -> Path:
    """Gson from the sklearn2pmml wheel (the version the pom pins), else Debian's."""
    pkg = _package_dir("sklearn2pmml")
    if pkg:
        found = sorted((pkg / "resources").glob("gson-*.jar"))
        if found:
            return found[-1]
    if (_DEBIAN_JAVA / "gson.jar").exists():
        return _DEBIAN_JAVA / "gson.jar"
    raise JavaToolchainError("Gson jar not found: 'pip install sklearn2pmml' or 'apt-get install libgoogle-gson-java'")


def java_client_dir() -> Path:
    """The Maven project holding the runtime sources: ``SCOREBRIDGE_JAVA_CLIENT``, else the copy a wheel
    installs next to this module (see ``setup.py``), else ``java_client/`` in the source tree."""
    override = os.environ.get("SCOREBRIDGE_JAVA_CLIENT")
    candidates = [Path(override)] if override else []
    here = Path(__file__).resolve().parent
    candidates += [here / "java_client", here.parents[1] / "java_client"]
    for c in candidates:
        if (c / "src" / "main" / "java").is_dir():
            return c
    raise JavaToolchainError("Java client sources not found (looked in "
                             + ", ".join(str(c) for c in candidates) + "); set SCOREBRIDGE_JAVA_CLIENT")


def dependency_classpath() -> list[Path]:
    """Jars the runtime needs at compile and run time (JPMML + Gson)."""
    return [*jpmml_jars(), gson_jar()]


def join_classpath(entries: list[Path]) -> str:
    """Entries joined with the platform's path separator."""
    return os.pathsep.join(str(e) for e in entries)


def _cache_root() -> Path:
    base = os.environ.get("SCOREBRIDGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scorebridge")
    return Path(base) / "java"


@lru_cache(maxsize=1)
def _javac_version() -> str:
    out = subprocess.run([str(find_jdk().javac), "-version"], capture_output=True, text=True, check=False)
    return (out.stdout + out.stderr).strip()


def _digest(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256(extra.encode())
    for p in sorted(paths):
        h.update(str(p.name).encode())
        h.update(p.read_bytes() if p.suffix == ".java" else str(p.stat().st_size).encode())
    return h.hexdigest()[:16]


def compile_java(sources: list[Path], classpath: list[Path], out_dir: Path, *, release: str = JAVA_RELEASE) -> None:
    """Compile ``sources`` into ``out_dir``; a failure raises :class:`JavaCompileError` with javac's errors."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".args", delete=False) as argfile:
        # An @argfile keeps long source lists and classpaths off the command line.
        argfile.write("\n".join(f'"{s}"' for s in sources))
    try:
        cmd = [str(find_jdk().javac), "--release", release, "-encoding", "UTF-8", "-nowarn",
               "-cp", join_classpath(classpath), "-d", str(out_dir), f"@{argfile.name}"]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    finally:
        os.unlink(argfile.name)
    if res.returncode != 0:
        lines = (res.stderr or res.stdout).strip().splitlines()
        raise JavaCompileError("javac failed: " + " | ".join(lines[:12]))


def write_jar(classes_dir: Path, jar: Path, *, extra_dirs: tuple[Path, ...] = ()) -> Path:
    """Zip a class tree (plus resource trees) into a jar, atomically."""
    jar.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=jar.parent, suffix=".jar.tmp")
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nCreated-By: scorebridge\n\n")
        for root in (classes_dir, *extra_dirs):
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(root).as_posix())
    os.replace(tmp, jar)
    return jar


def build_runtime(out: Path | None = None, *, force: bool = False) -> Path:
    """Compile ``java_client/src/main/java`` into the runtime jar and return its path.

    Without ``out`` the jar lands in a content-addressed cache and is reused while nothing changed;
    with ``out`` (a directory or a ``.jar`` path) it is also copied there.
    """
    src = java_client_dir() / "src" / "main" / "java"
    sources = sorted(src.rglob("*.java"))
    deps = dependency_classpath()
    key = _digest(sources + deps, _javac_version())
    cached = _cache_root() / key / RUNTIME_JAR_NAME
    if force or not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cached.parent) as tmp:
            compile_java(sources, deps, Path(tmp) / "classes")
            write_jar(Path(tmp) / "classes", cached)
    if out is None:
        return cached
    target = out if out.suffix == ".jar" else out / RUNTIME_JAR_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cached, target)
    return target


def runtime_classpath() -> list[Path]:
    """Everything needed to compile and run generated code: the runtime jar and its dependencies."""
    return [build_runtime(), *dependency_classpath()]


def run_java(main_class: str, classpath: list[Path], args: list[str], *, timeout: float = 300,
             jvm_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``main_class`` and return the finished process (output captured as text)."""
    cmd = [str(find_jdk().java), *jvm_args, "-cp", join_classpath(classpath), main_class, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
