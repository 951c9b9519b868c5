"""The model bundle: a versioned directory with ``manifest.json`` and the exported artifacts.

See ``docs/bundle.md`` for the contract. This module resolves bundle references
(``<dir>``, ``<repo>/<name>``, ``<repo>/<name>@<version>``), sorts versions, verifies artifact digests
and writes bundles atomically (temporary directory, then rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from scorebridge.errors import BundleError, BundleIntegrityError
from scorebridge.schema import InputSchema

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def version_key(version: str) -> tuple:
    """Natural sort key: digit runs compare as numbers (``2 < 10``, ``1.2.0 < 1.10.0``)."""
    parts = re.findall(r"\d+|\D+", version)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def check_name(name: str) -> str:
    """Validate a model name (a letter, then letters, digits, ``_`` or ``-``)."""
    if not _NAME_RE.match(name or ""):
        raise BundleError(f"invalid model name {name!r}: use a letter then letters, digits, '_' or '-'")
    return name


def check_version(version: str) -> str:
    """Validate a version string (letters, digits, ``.``, ``-``, ``_``; not ``latest``)."""
    if not _VERSION_RE.match(version or "") or version == "latest":
        raise BundleError(f"invalid version {version!r}: use letters, digits, '.', '-' or '_' (not 'latest')")
    return version


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def list_versions(model_dir: Path) -> list[str]:
    """Versions under ``<repo>/<name>`` that hold a manifest, oldest first."""
    if not model_dir.is_dir():
        return []
    found = [p.name for p in model_dir.iterdir()
             if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()]
    return sorted(found, key=version_key)


def list_models(repo: Path) -> dict[str, list[str]]:
    """``{name: [versions, oldest first]}`` for every model in a repository directory."""
    repo = Path(repo)
    if not repo.is_dir():
        raise BundleError(f"model repository {str(repo)!r} does not exist")
    models = {}
    for p in sorted(repo.iterdir()):
        if p.is_dir() and not p.name.startswith("."):
            versions = list_versions(p)
            if versions:
                models[p.name] = versions
    return models


def resolve(ref: str | os.PathLike[str]) -> Path:
    """Turn a bundle reference into the bundle directory.

    Accepts a bundle directory, ``<repo>/<name>`` (latest version) or ``<repo>/<name>@<version>``
    (``@latest`` too).
    """
    text = os.fspath(ref)
    version = None
    if "@" in text:
        text, version = text.rsplit("@", 1)
    path = Path(text)
    if version is None and (path / MANIFEST).is_file():
        return path
    if not path.is_dir():
        raise BundleError(f"no bundle at {os.fspath(ref)!r}: expected a bundle directory or <repo>/<name>[@version]")
    versions = list_versions(path)
    if not versions:
        raise BundleError(f"{text!r} holds no bundle versions (no */{MANIFEST})")
    if version in (None, "", "latest"):
        return path / versions[-1]
    if version not in versions:
        raise BundleError(f"model {path.name!r} has no version {version!r}; available: {', '.join(versions)}")
    return path / version


#: what a bundle predicts: a class (with probabilities), a number, or an outlier score (a number:
#: scikit-learn's ``decision_function``, negative for outliers)
TASKS = ("classification", "regression", "anomaly")


@dataclass
class Bundle:
    """A loaded bundle: its directory and parsed manifest. Use :meth:`load`."""

    path: Path
    manifest: dict[str, Any]
    _verified: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def load(cls, ref: str | os.PathLike[str], *, verify: bool = True) -> Bundle:
        """Load the bundle ``ref`` names; with ``verify``, check every artifact's size and sha256."""
        path = resolve(ref)
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path / MANIFEST}: unreadable manifest ({exc})") from exc
        for key in ("name", "version", "task", "inputs", "outputs", "artifacts"):
            if key not in manifest:
                raise BundleError(f"{path / MANIFEST}: manifest lacks required key {key!r}")
        if manifest["task"] not in TASKS:
            raise BundleError(f"{path / MANIFEST}: unknown task {manifest['task']!r} "
                              f"(this scorebridge knows {', '.join(TASKS)}; upgrade scorebridge)")
        if manifest.get("format_version", 1) > FORMAT_VERSION:
            raise BundleError(f"{path}: bundle format {manifest['format_version']} is newer than this "
                              f"scorebridge understands ({FORMAT_VERSION}); upgrade scorebridge")
        bundle = cls(path=path, manifest=manifest)
        if verify:
            for artifact in manifest["artifacts"]:
                bundle.verify_artifact(artifact)
        return bundle

    # -- manifest accessors -------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def task(self) -> str:
        return self.manifest["task"]

    @property
    def is_classifier(self) -> bool:
        return self.task == "classification"

    @property
    def classes(self) -> list:
        return list(self.manifest.get("classes") or [])

    @cached_property
    def schema(self) -> InputSchema:
        """The ordered input schema."""
        return InputSchema.from_manifest(self.manifest["inputs"])

    @property
    def output_columns(self) -> list[str]:
        return [o["name"] for o in self.manifest["outputs"]]

    def has_artifact(self, kind: str) -> bool:
        return kind in self.manifest["artifacts"]

    def artifact_path(self, kind: str, *, verify: bool = True) -> Path:
        """Path of artifact ``kind`` (``pmml``, ``onnx``, ``verification``, ``native``), digest-checked."""
        if kind not in self.manifest["artifacts"]:
            raise BundleError(f"bundle {self.name}/{self.version} has no {kind} artifact "
                              f"(it has: {', '.join(self.manifest['artifacts'])})")
        if verify:
            self.verify_artifact(kind)
        return self.path / self.manifest["artifacts"][kind]["file"]

    def verify_artifact(self, kind: str) -> None:
        """Raise :class:`BundleIntegrityError` unless artifact ``kind`` matches its size and sha256."""
        if kind in self._verified:
            return
        entry = self.manifest["artifacts"][kind]
        path = self.path / entry["file"]
        if not path.is_file():
            raise BundleIntegrityError(f"{path}: artifact listed in the manifest is missing")
        actual = sha256_file(path)
        if actual != entry["sha256"] or path.stat().st_size != entry["size"]:
            raise BundleIntegrityError(
                f"{path}: sha256 mismatch (manifest {entry['sha256'][:12]}..., file {actual[:12]}...); "
                "the bundle was modified after export: re-export it")
        self._verified.add(kind)

    def read_verification(self):
        """The verification set as a pandas DataFrame (inputs + ``native_*`` outputs)."""
        import pyarrow.parquet as pq

        return pq.read_table(self.artifact_path("verification")).to_pandas()

    def __str__(self) -> str:
        return f"{self.name}/{self.version}"


def next_version(model_dir: Path) -> str:
    """The integer after the greatest integer version present, as a string (``"1"`` for none)."""
    ints = [int(v) for v in list_versions(model_dir) if v.isdigit()]
    return str(max(ints, default=0) + 1)


def artifact_entry(path: Path, **extra: Any) -> dict[str, Any]:
    """Manifest entry (file, size, sha256) for an artifact file."""
    return {"file": path.name, "size": path.stat().st_size, "sha256": sha256_file(path), **extra}


@contextmanager
def staged_bundle_dir(repo: Path, name: str, version: str) -> Iterator[Path]:
    """Yield a temporary directory for a new bundle; on success rename it to ``<repo>/<name>/<version>``.

    On any exception the temporary directory is removed, so a failed export leaves nothing behind.
    Before the rename, directories and files get the modes the process's umask gives new ones
    (0755 / 0644 under the usual 022): ``mkdtemp`` makes the directory 0700, and a service running as
    another user must be able to read the bundle.
    """
    check_name(name)
    check_version(version)
    model_dir = Path(repo) / name
    final = model_dir / version
    if final.exists():
        raise BundleError(f"bundle {final} already exists: pick another --version or remove it")
    model_dir_existed = model_dir.exists()
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.tmp-", dir=model_dir))
    try:
        yield tmp
        publish_modes(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not model_dir_existed:
            shutil.rmtree(model_dir, ignore_errors=True)
        raise


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back, the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def publish_modes(directory: Path) -> None:
    """Give ``directory``, its subdirectories and files the default modes for new ones under the
    current umask (``0o777 & ~umask`` for directories, ``0o666 & ~umask`` for files)."""
    mask = current_umask()
    os.chmod(directory, 0o777 & ~mask)
    for root, dirs, files in os.walk(directory):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` (indented, keys in insertion order)."""
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
