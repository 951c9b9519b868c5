"""The model registry: every loadable version of every model in a repository, hot-reloaded.

Requests read :attr:`ModelRegistry.snapshot` once and use that immutable snapshot to the end, and a
reload builds a complete new snapshot before swapping it in with one assignment, so no request ever
sees a half-loaded model set. A bundle that fails to load (bad sha256, broken artifact, a manifest
that names another model or version than its directory, a symlink out of the repository) is refused
and logged, and other versions of that model keep serving. Every worker decides from what is on
disk, so all reach the same verdict: a version whose files change in place after it was loaded is
verified again at the next reload and, refused, stops serving in every worker (a worker started
later would refuse it too), rather than one worker serving the copy in its memory.
Refusal reasons name files relative to the repository: ``/readyz`` shows them without a token.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scorebridge.bundle import Bundle, list_models, version_key
from scorebridge.engines import Engine, choose_engine, load_engine, scoring_artifacts
from scorebridge.errors import BundleError, ScorebridgeError
from scorebridge.prediction import Prediction
from scorebridge.process import pid_alive
from scorebridge.schema import Columns, InputSchema, rows_in
from scoring_service.affinity import every_core
from scoring_service.codec import PredictionsEncoder, RecordsDecoder
from scoring_service.errors import ApiError

log = logging.getLogger("scoring_service")

Fingerprint = tuple[tuple[str, int, int, int, int], ...]
MULTI_THREADED = ("onnx", "xgboost")  # engines whose big-request session gets more threads


def fingerprint(version_dir: Path) -> Fingerprint:
    """Names, inodes, sizes, mtimes and ctimes of a version directory's files: changes when any file
    is replaced or written, even with its mtime set back (which changes the ctime)."""
    out = []
    for entry in os.scandir(version_dir):
        if entry.is_file():
            st = entry.stat()
            out.append((entry.name, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(sorted(out))


def outside(root: Path, version_dir: Path) -> str | None:
    """Why ``version_dir`` (or a file in it) is not in the repository ``root`` once symlinks are
    followed, or ``None``: a link out of the repository would serve a bundle under a name it was
    never exported as."""
    real_root = root.resolve()
    if not version_dir.resolve().is_relative_to(real_root):
        return "the directory is a symlink (or inside one) that leads out of the repository"
    for entry in os.scandir(version_dir):
        if entry.is_symlink() and not Path(entry.path).resolve().is_relative_to(real_root):
            return f"{entry.name} is a symlink that leads out of the repository"
    return None


def check_placement(bundle: Bundle, name: str, version: str) -> None:
    """Refuse a manifest that names another model or version than the directory it sits in."""
    if bundle.name != name or bundle.version != version:
        raise BundleError(f"the manifest says model {bundle.name!r} version {bundle.version!r}, but it sits in "
                          f"{name}/{version}: put the bundle in {bundle.name}/{bundle.version}/ or fix its manifest")


@dataclass(frozen=True)
class LoadedModel:
    """One bundle loaded into an engine, with what each request needs precomputed."""

    name: str
    version: str
    bundle: Bundle
    engine: Engine
    engine_name: str
    fingerprint: Fingerprint
    batch_engine: Engine | None = None
    batch_rows: int = 0
    batch_engine_name: str | None = None
    schema: InputSchema = field(init=False)
    has_categories: bool = field(init=False)
    records_decoder: RecordsDecoder = field(init=False)
    predictions_encoder: PredictionsEncoder = field(init=False)
    lock: threading.Lock | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", self.bundle.schema)
        object.__setattr__(self, "has_categories",
                           any(f.categories is not None for f in self.bundle.schema.fields))
        object.__setattr__(self, "records_decoder", RecordsDecoder(self.bundle.schema))
        object.__setattr__(self, "predictions_encoder", PredictionsEncoder(self.bundle.task, self.bundle.classes))
        # engines that are not thread safe are serialised; the fast ones are called concurrently
        object.__setattr__(self, "lock", None if self.engine.thread_safe else threading.Lock())

    def predict(self, columns: Columns) -> Prediction:
        """Score validated columns; big requests use the multi-threaded batch engine when there is one,
        on every core even when the worker's request threads are pinned to one (``affinity``)."""
        if self.batch_engine is not None and rows_in(columns) >= self.batch_rows:
            with every_core():
                return self._score(self.batch_engine, columns)
        return self._score(self.engine, columns)

    def _score(self, engine: Engine, columns: Columns) -> Prediction:
        if self.lock is None:
            return engine.predict_columns(columns)
        with self.lock:
            return engine.predict_columns(columns)

    def warm_up(self) -> None:
        """Score one all-missing record so the first caller does not pay for lazy initialisation."""
        row = {f.name: np.array([np.nan]) if f.is_numeric else np.array([None], dtype=object)
               for f in self.schema.fields}
        for engine in filter(None, (self.engine, self.batch_engine)):
            try:
                engine.predict_columns(row)
            except Exception:  # a model that rejects missing values still serves; warming is best effort
                log.debug("warm-up of %s/%s skipped", self.name, self.version, exc_info=True)

    def describe(self) -> dict[str, Any]:
        """The version's metadata for ``GET /v1/models/{name}/versions/{v}`` (from the manifest)."""
        m = self.bundle.manifest
        return {"name": self.name, "version": self.version, "task": m["task"], "target": m.get("target"),
                "classes": m.get("classes") or [], "model_family": m.get("model_family"),
                "created_at": m.get("created_at"), "engine": self.engine_name,
                "batch_engine": self.batch_engine_name or self.engine_name,
                "artifacts": scoring_artifacts(self.bundle),
                "excluded": {fmt: e.get("reason") for fmt, e in (m.get("excluded") or {}).items()},
                "inputs": m["inputs"], "outputs": m["outputs"], "tolerance": m.get("tolerance"),
                "fidelity": m.get("fidelity"), "libraries": m.get("libraries")}


@dataclass(frozen=True)
class Snapshot:
    """An immutable view of the registry: ``models[name][version]`` and ``latest[name]``.

    ``not_loaded[name]`` lists versions on disk that ``max_versions`` keeps out of memory.
    """

    models: dict[str, dict[str, LoadedModel]]
    latest: dict[str, str]
    refused: dict[str, dict[str, str]]
    not_loaded: dict[str, list[str]] = field(default_factory=dict)

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The model ``name`` at ``version`` (``None`` or ``"latest"``: the newest loaded); 404 else."""
        versions = self.models.get(name)
        if versions is None:
            raise ApiError(404, "model_not_found",
                           f"no model {name!r}; available: {', '.join(self.models) or 'none'}")
        if version is None or version == "latest":
            return versions[self.latest[name]]
        model = versions.get(version)
        if model is None and version in self.not_loaded.get(name, ()):
            raise ApiError(404, "version_not_loaded",
                           f"model {name!r} version {version!r} is in the repository but not loaded: this server "
                           f"keeps the {len(versions)} newest (--max-versions); loaded: {', '.join(versions)}")
        if model is None:
            raise ApiError(404, "version_not_found",
                           f"model {name!r} has no version {version!r}; available: {', '.join(versions)}")
        return model


@dataclass
class ReloadReport:
    """What one reload did, by ``name/version``."""

    loaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"loaded": self.loaded, "unchanged": self.unchanged, "removed": self.removed,
                "refused": self.refused, "error": self.error}


class ModelRegistry:
    """Loads a repository into engines and keeps it current (see the module docstring)."""

    def __init__(self, repo: Path, engine: str = "auto", *, engine_options: dict[str, Any] | None = None,
                 batch: tuple[dict[str, Any], int] | None = None, max_versions: int | None = None,
                 on_reload: Callable[[ReloadReport], None] | None = None) -> None:
        """``engine``: ``auto`` (per bundle, see :func:`~scorebridge.engines.choose_engine`) or an engine
        every bundle must have the artifact of; ``batch``: (engine options, minimum rows) for a second,
        multi-threaded engine that scores big requests; ``max_versions``: how many of each model's newest
        loadable versions to keep (``None``: all)."""
        self.repo = Path(repo)
        self.engine_name = engine
        self.engine_options = engine_options or {}
        self.batch = batch
        self.max_versions = max_versions
        self.on_reload = on_reload
        self.snapshot = Snapshot({}, {}, {})
        # refusals remembered by fingerprint, so a broken bundle is logged once, not on every poll
        self._refused: dict[tuple[str, str], tuple[Fingerprint, str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- loading ------------------------------------------------------------------------------
    def reload(self) -> ReloadReport:
        """Rescan the repository; load new or changed versions; swap the snapshot atomically."""
        # the engines' thread pools start here and inherit this thread's CPUs: every core, even when an
        # admin reload runs on a request thread pinned to one (see scoring_service.affinity)
        with self._lock, every_core():
            report = self._reload_locked()
        if self.on_reload is not None:
            self.on_reload(report)
        return report

    def _reload_locked(self) -> ReloadReport:
        report = ReloadReport()
        old = self.snapshot
        try:
            on_disk = list_models(self.repo)
        except (ScorebridgeError, OSError) as exc:
            report.error = f"cannot list the model repository: {exc}"
            log.error("reload: %s; still serving the models already loaded", report.error)
            return report
        models: dict[str, dict[str, LoadedModel]] = {}
        refused: dict[str, dict[str, str]] = {}
        not_loaded: dict[str, list[str]] = {}
        for name, versions in on_disk.items():
            loaded: dict[str, LoadedModel] = {}
            # newest first, so --max-versions keeps the newest that load (a refused one does not count)
            for version in reversed(versions):
                if self.max_versions is not None and len(loaded) >= self.max_versions:
                    not_loaded.setdefault(name, []).insert(0, version)
                    continue
                model, reason = self._load_version(name, version, old.models.get(name, {}).get(version), report)
                if model is not None:
                    loaded[version] = model
                if reason is not None:
                    refused.setdefault(name, {})[version] = reason
                    report.refused[f"{name}/{version}"] = reason
            if loaded:
                models[name] = {v: loaded[v] for v in versions if v in loaded}  # natural version order
        for name, versions in old.models.items():
            report.removed += [f"{name}/{v}" for v in versions if v not in models.get(name, {})]
        latest = {name: max(versions, key=version_key) for name, versions in models.items()}
        self.snapshot = Snapshot(models, latest, refused, not_loaded)
        if report.loaded or report.removed:
            log.info("models now serving: %s", ", ".join(f"{n}@{v}" for n, v in latest.items()) or "none")
        return report

    def _load_version(self, name: str, version: str, current: LoadedModel | None,
                      report: ReloadReport) -> tuple[LoadedModel | None, str | None]:
        """(model to serve, refusal reason) for one version directory."""
        key = f"{name}/{version}"
        path = self.repo / name / version
        try:
            fp = fingerprint(path)
            escape = outside(self.repo, path)
        except OSError as exc:  # removed between listing and scanning
            return None, f"unreadable: {self.public(str(exc))}"
        if escape is not None:
            self._refuse(name, version, fp, escape, current)
            return None, escape
        if current is not None and current.fingerprint == fp:
            report.unchanged.append(key)
            return current, None
        seen = self._refused.get((name, version))
        if seen is not None and seen[0] == fp:
            return None, seen[1]
        try:
            bundle = Bundle.load(path)
            check_placement(bundle, name, version)
            engine_name = choose_engine(bundle, "serve", self.engine_name)
            engine = load_engine(bundle, engine_name, **self.engine_options)
            batch_engine = batch_name = None
            if self.batch:
                # big requests take the XGBoost fast path where the bundle has it (same scores, about half
                # the CPU per row), else ONNX Runtime on more threads; JPMML has no threads to add
                batch_name = choose_engine(bundle, "batch") if self.engine_name in ("auto", "onnx") else engine_name
                if batch_name in MULTI_THREADED:
                    batch_engine = load_engine(bundle, batch_name, **self.batch[0])
        except Exception as exc:  # any load failure refuses this bundle only, never the server
            reason = self.public(f"{type(exc).__name__}: {exc}")
            self._refuse(name, version, fp, reason, current)
            return None, reason
        self._refused.pop((name, version), None)
        report.loaded.append(key)
        log.info("loaded %s with %s", key, engine.describe())
        model = LoadedModel(name, version, bundle, engine, engine_name, fp, batch_engine,
                            self.batch[1] if self.batch else 0, batch_name if batch_engine else None)
        model.warm_up()
        return model, None

    def _refuse(self, name: str, version: str, fp: Fingerprint, reason: str, current: LoadedModel | None) -> None:
        """Remember and log a refusal (once per fingerprint)."""
        seen = self._refused.get((name, version))
        if seen is not None and seen[0] == fp:
            return
        self._refused[(name, version)] = (fp, reason)
        stops = "; the copy loaded earlier stops serving (its files changed)" if current else ""
        log.error("refused bundle %s/%s (%s)%s", name, version, reason, stops)

    def public(self, text: str) -> str:
        """``text`` with the repository's absolute path taken out (paths relative to the repository)."""
        for root in sorted({str(self.repo.resolve()), str(self.repo.absolute())}, key=len, reverse=True):
            text = text.replace(root + os.sep, "").replace(root, "<repository>")
        return text

    def is_ready(self) -> bool:
        """True when every model in the repository has a version serving (and there is one)."""
        snap = self.snapshot
        if not snap.models:
            return False
        return all(name in snap.models for name in snap.refused)

    # -- background polling -------------------------------------------------------------------
    def start(self, poll_interval: float, signal: ReloadSignal | None = None) -> None:
        """Poll the repository every ``poll_interval`` s (0: never) and follow ``signal`` if given."""
        if (poll_interval <= 0 and signal is None) or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._poll, args=(poll_interval, signal),
                                        name="scorebridge-reload", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self, interval: float, signal: ReloadSignal | None) -> None:
        tick = 0.2 if signal is not None else interval
        next_scan = time.monotonic() + interval if interval > 0 else float("inf")
        while not self._stop.wait(tick):
            try:
                generation = signal.pending() if signal is not None else None
                if generation is not None or time.monotonic() >= next_scan:
                    self.reload()
                    next_scan = time.monotonic() + interval if interval > 0 else float("inf")
                if generation is not None:
                    signal.acknowledge(generation)
            except Exception:  # the poller must outlive any surprise; requests keep the old snapshot
                log.exception("model reload failed; still serving the models already loaded")


class ReloadSignal:
    """Fan-out of ``POST /v1/admin/reload`` to every worker of one server, through a shared directory.

    The worker that receives the call reloads, writes a new generation number, and waits until the
    other live workers have written an acknowledgement file for it (their pollers check every 0.2 s).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "generation"
        self._seen = self._read()
        self.acknowledge(self._seen)

    def _read(self) -> int:
        try:
            return int(self.path.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def bump(self) -> int:
        """Publish a new generation (monotonic nanoseconds, so concurrent bumps never go backwards)."""
        generation = max(time.time_ns(), self._read() + 1)
        tmp = self.directory / f".generation.{os.getpid()}"
        tmp.write_text(str(generation))
        os.replace(tmp, self.path)
        self._seen = generation
        self.acknowledge(generation)
        return generation

    def pending(self) -> int | None:
        """A generation this process has not handled yet, or ``None``."""
        generation = self._read()
        if generation > self._seen:
            self._seen = generation
            return generation
        return None

    def acknowledge(self, generation: int) -> None:
        tmp = self.directory / f".ack.{os.getpid()}"
        tmp.write_text(str(generation))
        os.replace(tmp, self.directory / f"ack-{os.getpid()}")

    def wait(self, generation: int, timeout: float) -> list[int]:
        """Wait until every live worker acknowledged ``generation``; return the pids still pending."""
        deadline = time.monotonic() + timeout
        while True:
            pending = []
            for ack in self.directory.glob("ack-*"):
                pid = int(ack.name[4:])
                if not pid_alive(pid):
                    ack.unlink(missing_ok=True)
                    continue
                try:
                    done = int(ack.read_text() or 0) >= generation
                except (OSError, ValueError):
                    done = False
                if not done:
                    pending.append(pid)
            if not pending or time.monotonic() >= deadline:
                return pending
            time.sleep(0.05)


__all__ = ["LoadedModel", "ModelRegistry", "ReloadReport", "ReloadSignal", "Snapshot"]
