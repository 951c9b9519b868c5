"""Build hook (everything else is in pyproject.toml): ship the Java client's Maven project in the wheel.

``java_client/`` stays a top-level Maven project in the source tree; a wheel carries a copy as
``scorebridge/java/java_client`` so ``scorebridge java generate`` works from a plain (non-editable)
install too. Editable installs read the source tree directly and get no copy.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

JAVA_CLIENT = Path(__file__).resolve().parent / "java_client"


class BuildPyWithJavaClient(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or not JAVA_CLIENT.is_dir():
            return
        dest = Path(self.build_lib) / "scorebridge" / "java" / "java_client"
        shutil.copytree(JAVA_CLIENT, dest, dirs_exist_ok=True, ignore=shutil.ignore_patterns("target", ".*"))


setup(cmdclass={"build_py": BuildPyWithJavaClient})
