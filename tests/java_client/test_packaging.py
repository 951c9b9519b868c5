"""A plain (non-editable) wheel carries the Java client's Maven project, and the installed code finds it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
JAVA_CLIENT = ROOT / "java_client"

# the test environment is an editable install, whose import hook would win over PYTHONPATH: drop it
PROBE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import scorebridge
from scorebridge.java.toolchain import java_client_dir
print(scorebridge.__file__)
print(java_client_dir())
"""


def test_wheel_ships_the_java_client_and_finds_it(tmp_path: Path) -> None:
    src, dist, site = tmp_path / "src", tmp_path / "dist", tmp_path / "site"
    # build from a copy: setuptools reuses a build/ directory it finds, which would hide a broken hook
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".mvn", "build", "*.egg-info", "__pycache__",
                                                              ".*_cache", "target"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(dist)],
                   check=True, timeout=600, cwd=tmp_path)
    wheel = next(dist.glob("scorebridge-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)

    # what setup.py copies: not target/ nor dot-directories (.mvn/ holds this machine's Maven repository)
    sources = {p.relative_to(JAVA_CLIENT).as_posix() for p in JAVA_CLIENT.rglob("*")
               if p.is_file() and not any(part == "target" or part.startswith(".")
                                          for part in p.relative_to(JAVA_CLIENT).parts)}
    assert "pom.xml" in sources and "src/main/java/io/scorebridge/client/ScoringClient.java" in sources
    missing = {s for s in sources if f"scorebridge/java/java_client/{s}" not in names}
    assert not missing, f"the wheel lacks {sorted(missing)}"

    env = {k: v for k, v in os.environ.items() if k != "SCOREBRIDGE_JAVA_CLIENT"}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    assert Path(out[0]).resolve().is_relative_to(site.resolve()), out
    assert Path(out[1]) == (site / "scorebridge" / "java" / "java_client").resolve()
