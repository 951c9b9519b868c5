"""An offline Maven build of the Java client, from what this machine already has.

Maven Central is not reachable here, so ``java_client/.mvn/`` gets a project-local setup:

- ``repository/``: a Maven local repository holding the JPMML jars of the ``jpmml-evaluator`` wheel and
  the Gson jar of the ``sklearn2pmml`` wheel, each with a pom whose dependencies are the ones its own
  embedded pom (``META-INF/maven/.../pom.xml``) declares, restricted to the jars that ship beside it;
- ``settings.xml``: that local repository, and Debian's ``/usr/share/maven-repo`` (Maven plugins,
  Surefire, JUnit 5) as a ``file:`` mirror of every remote repository;
- ``maven.config`` / ``jvm.config``: the settings file, ``file:`` repositories allowed offline (no
  network is involved), and a fast-starting JVM for Maven itself.

Then ``cd java_client && mvn -o package`` compiles, runs the JUnit 5 suite through Surefire and packages
the runtime; a generated client's Maven project builds against the same settings
(``mvn -o -s java_client/.mvn/settings.xml install``). Nothing outside ``.mvn/`` is written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from scorebridge.java.toolchain import JavaToolchainError, gson_jar, java_client_dir, jpmml_jars

DEBIAN_MAVEN_REPO = Path("/usr/share/maven-repo")
_POM_NS = "http://maven.apache.org/POM/4.0.0"
_NS = {"m": _POM_NS}
# Debian packages holding the plugins the builds use (scripts/bootstrap.sh installs them).
DEBIAN_PACKAGES = ("maven", "libmaven-resources-plugin-java", "libmaven-compiler-plugin-java",
                   "libsurefire-java", "libmaven-jar-plugin-java", "libmaven-install-plugin-java",
                   "libmaven-clean-plugin-java", "junit5")


@dataclass(frozen=True)
class Gav:
    """Maven coordinates of one jar."""

    group: str
    artifact: str
    version: str

    def directory(self, repo: Path) -> Path:
        """The jar's directory in a Maven repository layout."""
        return repo.joinpath(*self.group.split("."), self.artifact, self.version)

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


@dataclass(frozen=True)
class MavenSetup:
    """The offline setup :func:`assemble` wrote: run Maven with ``-s settings``."""

    mvn: Path
    repository: Path
    settings: Path
    installed: tuple[Gav, ...]


def find_mvn() -> Path:
    """The ``mvn`` launcher (``MAVEN_HOME/bin/mvn``, else ``mvn`` on ``PATH``)."""
    home = os.environ.get("MAVEN_HOME")
    found = Path(home) / "bin" / "mvn" if home else None
    if found is None or not found.exists():
        on_path = shutil.which("mvn")
        if on_path is None:
            raise JavaToolchainError("Maven not found: 'apt-get install " + " ".join(DEBIAN_PACKAGES) + "'")
        found = Path(on_path)
    return found


def _embedded_pom(jar: Path) -> tuple[Gav, ET.Element | None] | None:
    """A jar's own coordinates (``pom.properties``) and parsed ``pom.xml``; None for a jar without them."""
    with zipfile.ZipFile(jar) as z:
        props = [n for n in z.namelist() if re.fullmatch(r"META-INF/maven/[^/]+/[^/]+/pom\.properties", n)]
        # a shaded jar carries several: take the one named like the file
        props.sort(key=lambda n: not jar.name.startswith(n.split("/")[3] + "-"))
        if not props:
            return None
        values = dict(line.split("=", 1) for line in z.read(props[0]).decode().splitlines()
                      if "=" in line and not line.startswith("#"))
        gav = Gav(values["groupId"].strip(), values["artifactId"].strip(), values["version"].strip())
        pom_name = props[0].rsplit("/", 1)[0] + "/pom.xml"
        pom = ET.fromstring(z.read(pom_name)) if pom_name in z.namelist() else None
    return gav, pom


def _dependencies(pom: ET.Element | None, gav: Gav, shipped: dict[tuple[str, str], Gav]) -> list[tuple[Gav, str]]:
    """``(coordinates, scope)`` of the run-time dependencies a pom declares that ship as jars here."""
    if pom is None:
        return []
    out = []
    for dep in pom.findall("m:dependencies/m:dependency", _NS):
        def text(tag: str, d: ET.Element = dep) -> str:
            el = d.find(f"m:{tag}", _NS)
            return (el.text or "").strip() if el is not None else ""

        scope = text("scope") or "compile"
        group = text("groupId").replace("${project.groupId}", gav.group).replace("${project.parent.groupId}",
                                                                                 gav.group)
        key = (group, text("artifactId"))
        if scope in ("test", "provided", "system") or text("classifier") or key not in shipped:
            continue
        out.append((shipped[key], scope))
    return out


def _pom_text(gav: Gav, deps: list[tuple[Gav, str]], source: Path) -> str:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<project xmlns="{_POM_NS}">',
             "  <modelVersion>4.0.0</modelVersion>",
             f"  <groupId>{gav.group}</groupId>", f"  <artifactId>{gav.artifact}</artifactId>",
             f"  <version>{gav.version}</version>", "  <packaging>jar</packaging>",
             f"  <description>Installed by scorebridge from {source.name} (its dependencies restricted to the "
             "jars shipped beside it)</description>",
             "  <dependencies>"]
    for dep, scope in deps:
        lines += ["    <dependency>", f"      <groupId>{dep.group}</groupId>",
                  f"      <artifactId>{dep.artifact}</artifactId>", f"      <version>{dep.version}</version>",
                  f"      <scope>{scope}</scope>", "    </dependency>"]
    lines += ["  </dependencies>", "</project>", ""]
    return "\n".join(lines)


def _write_if_changed(path: Path, text: str) -> None:
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _install_jar(jar: Path, gav: Gav, pom: str, repo: Path) -> None:
    """Write ``jar`` and its pom in the repository layout (atomically; skipped when already identical)."""
    target = gav.directory(repo)
    target.mkdir(parents=True, exist_ok=True)
    dest = target / f"{gav.artifact}-{gav.version}.jar"
    if not dest.exists() or dest.stat().st_size != jar.stat().st_size:
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".jar.")
        os.close(fd)
        shutil.copyfile(jar, tmp)
        os.replace(tmp, dest)
    _write_if_changed(target / f"{gav.artifact}-{gav.version}.pom", pom)


def _settings_text(repo: Path) -> str:
    debian = DEBIAN_MAVEN_REPO.as_uri()
    # Debian's repository has no checksum files: "ignore" instead of a warning per artifact. Central is
    # redefined to get that policy; the mirror sends every other repository there too.
    policy = ("<releases><checksumPolicy>ignore</checksumPolicy></releases>"
              "<snapshots><enabled>false</enabled></snapshots>")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by 'scorebridge java maven-repo': the project-local repository, and Debian's Maven repository as
     the only remote one (a file: URL, so no network is involved). -->
<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <localRepository>{repo}</localRepository>
  <interactiveMode>false</interactiveMode>
  <mirrors>
    <mirror>
      <id>debian</id>
      <name>Debian's Maven repository ({DEBIAN_MAVEN_REPO})</name>
      <url>{debian}</url>
      <mirrorOf>*</mirrorOf>
    </mirror>
  </mirrors>
  <profiles>
    <profile>
      <id>debian-maven-repo</id>
      <repositories>
        <repository><id>central</id><url>{debian}</url>{policy}</repository>
      </repositories>
      <pluginRepositories>
        <pluginRepository><id>central</id><url>{debian}</url>{policy}</pluginRepository>
      </pluginRepositories>
    </profile>
  </profiles>
  <activeProfiles>
    <activeProfile>debian-maven-repo</activeProfile>
  </activeProfiles>
</settings>
"""


def _pinned_versions(pom: Path) -> dict[str, str]:
    """``<properties>`` of a pom whose names end in ``.version``."""
    root = ET.parse(pom).getroot()
    props = root.find("m:properties", _NS)
    return {el.tag.split("}")[1]: (el.text or "").strip() for el in (props if props is not None else [])
            if el.tag.endswith(".version")}


def _check_pom_matches(installed: list[Gav], pom: Path) -> None:
    """The runtime pom must pin the versions the wheels ship, else the offline build cannot resolve them."""
    have = {(g.group, g.artifact): g.version for g in installed}
    pinned = _pinned_versions(pom)
    wanted = {"jpmml.evaluator.version": ("org.jpmml", "pmml-evaluator-metro"),
              "jpmml.transpiler.version": ("org.jpmml", "pmml-transpiler"),
              "gson.version": ("com.google.code.gson", "gson")}
    for prop, key in wanted.items():
        if prop in pinned and key in have and pinned[prop] != have[key]:
            raise JavaToolchainError(f"{pom} pins {key[1]} {pinned[prop]} but the installed Python package ships "
                                     f"{have[key]}: set <{prop}>{have[key]}</{prop}> in the pom")


def assemble(client_dir: Path | None = None) -> MavenSetup:
    """Write (or refresh) ``<java_client>/.mvn/``: the local repository, ``settings.xml`` and the configs.

    Idempotent and cheap when nothing changed; safe to run from ``scripts/bootstrap.sh`` and from tests.
    """
    mvn = find_mvn()
    if not (DEBIAN_MAVEN_REPO / "org/apache/maven/plugins/maven-surefire-plugin").is_dir():
        raise JavaToolchainError(f"Maven plugins not found in {DEBIAN_MAVEN_REPO}: 'apt-get install "
                                 + " ".join(DEBIAN_PACKAGES) + "'")
    client_dir = (client_dir or java_client_dir()).resolve()
    dot_mvn = client_dir / ".mvn"
    repo = dot_mvn / "repository"
    jars = [*jpmml_jars(), gson_jar()]
    found = {jar: _embedded_pom(jar) for jar in jars}
    coords = {jar: meta for jar, meta in found.items() if meta is not None}
    shipped = {(gav.group, gav.artifact): gav for gav, _ in coords.values()}
    for jar, (gav, pom) in coords.items():
        _install_jar(jar, gav, _pom_text(gav, _dependencies(pom, gav, shipped), jar), repo)
    installed = [gav for gav, _ in coords.values()]
    _check_pom_matches(installed, client_dir / "pom.xml")
    settings = dot_mvn / "settings.xml"
    _write_if_changed(settings, _settings_text(repo))
    # -Daether.offline.protocols=file: offline (-o) still reads file: repositories, i.e. Debian's.
    _write_if_changed(dot_mvn / "maven.config", f"--settings={settings}\n-Daether.offline.protocols=file\n")
    # Maven's own JVM runs for seconds: the C1 compiler alone starts it fastest.
    _write_if_changed(dot_mvn / "jvm.config", "-XX:+TieredCompilation -XX:TieredStopAtLevel=1\n")
    return MavenSetup(mvn=mvn, repository=repo, settings=settings, installed=tuple(installed))


def run_maven(setup: MavenSetup, project: Path, *goals: str, timeout: float = 600,
              extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``mvn -o -B -s <settings> <goals>`` in ``project``, output captured."""
    cmd = [str(setup.mvn), "-o", "-B", "--no-transfer-progress", "-s", str(setup.settings),
           "-Daether.offline.protocols=file", *extra, *goals]
    return subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=timeout, check=False)
