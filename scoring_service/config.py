"""Service configuration: one frozen object built from CLI flags, a mapping or the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from scorebridge.errors import ScorebridgeError

SERVE_ENGINES = ("auto", "onnx", "pmml", "xgboost", "native")


class ConfigError(ScorebridgeError):
    """A service setting is invalid; the message names the setting and the allowed values."""


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``create_app`` needs.

    ``engine`` is ``auto`` (each bundle by what it holds: ONNX Runtime, else the XGBoost fast path,
    else JPMML; see :func:`scorebridge.engines.choose_engine`) or an engine every bundle must have.
    ``admin_token`` enables ``POST /v1/admin/reload`` (``None``: admin endpoints are off).
    ``audit_log`` is a file path, ``"-"`` for stdout, or ``None`` for no audit log.
    ``engine_threads`` is the ONNX Runtime / OpenMP threads for ordinary requests (1: one worker per
    core scales best); requests of at least ``batch_rows`` records go to a second ONNX Runtime session
    with ``batch_threads`` threads (``None``: the cores available; 1: no batch session), because one
    big request on an idle machine finishes sooner on every core.
    ``max_versions`` keeps only that many of each model's newest loadable versions in memory (``None``:
    every version); older ones answer 404 ``version_not_loaded``.
    ``audit_max_bytes`` rotates an audit file at that size (``None``: never; ``logrotate`` may still
    rename it, see :mod:`scoring_service.audit`), keeping ``audit_keep`` rotated files.
    ``ui`` serves the read-only web console at ``/ui/`` (``web_console``); ``ui_token``, when set, is
    needed to see it; ``jobs`` is a directory of batch job files whose runs the console shows;
    ``console_only`` serves the console (and the health endpoints) without the scoring API.
    ``feature_store`` is the Redis URL of the online features (``None``: no lookups by key);
    ``feature_sets`` maps a model name to its feature set, ``SET`` or ``SET:ENTITY`` (a model not named
    looks up the set of its own name); ``feature_timeout_ms`` bounds each lookup's round trip.
    ``runtime_dir`` is a directory shared by the workers of one server (reload fan-out); the
    gunicorn runner sets it, other WSGI servers may leave it ``None`` (reload then affects only the
    process that received the call).
    """

    repo: Path
    engine: str = "auto"
    trust_pickles: bool = False
    engine_threads: int = 1
    batch_threads: int | None = None
    batch_rows: int = 128
    poll_interval: float = 2.0
    max_versions: int | None = None
    admin_token: str | None = None
    max_records: int = 10_000
    max_body_bytes: int = 32 * 1024 * 1024
    audit_log: str | None = "-"
    audit_sample: float = 0.0
    audit_max_bytes: int | None = 100 * 1024 * 1024
    audit_keep: int = 5
    runtime_dir: Path | None = None
    reload_wait: float = 30.0
    ui: bool = True
    ui_token: str | None = None
    jobs: Path | None = None
    console_only: bool = False
    feature_store: str | None = None
    feature_sets: Mapping[str, str] = field(default_factory=dict)
    feature_timeout_ms: float = 20.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "repo", Path(self.repo))
        for key in ("runtime_dir", "jobs"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, Path(getattr(self, key)))
        if self.engine not in SERVE_ENGINES:
            raise ConfigError(f"unknown engine {self.engine!r}: choose one of {', '.join(SERVE_ENGINES)}")
        if self.engine_threads < 1 or (self.batch_threads is not None and self.batch_threads < 1):
            raise ConfigError("engine_threads and batch_threads must be >= 1")
        if self.batch_threads is None:
            object.__setattr__(self, "batch_threads", available_cores())
        if self.max_versions is not None and self.max_versions < 1:
            raise ConfigError(f"max_versions must be at least 1 (or unset for every version), got {self.max_versions}")
        if self.poll_interval < 0:
            raise ConfigError(f"poll_interval must be >= 0 seconds (0 disables polling), got {self.poll_interval}")
        if self.max_records < 1 or self.max_body_bytes < 1:
            raise ConfigError("max_records and max_body_bytes must be positive")
        if self.audit_max_bytes is not None and self.audit_max_bytes < 1:
            object.__setattr__(self, "audit_max_bytes", None)
        if self.audit_keep < 0:
            raise ConfigError(f"audit_keep is a number of rotated files (0 or more), got {self.audit_keep}")
        if not 0.0 <= self.audit_sample <= 1.0:
            raise ConfigError(f"audit_sample is a rate between 0 and 1, got {self.audit_sample}")
        for key in ("admin_token", "ui_token"):
            if getattr(self, key) == "":
                object.__setattr__(self, key, None)
        if self.console_only and not self.ui:
            raise ConfigError("console_only serves nothing but the console: it cannot go with ui off")
        if self.jobs is not None and not self.jobs.is_dir():
            raise ConfigError(f"jobs: {self.jobs} is not a directory (it should hold the batch job files, *.toml)")
        self._check_features()

    def _check_features(self) -> None:
        from online_features.store import check_set_name, check_url

        if self.feature_store == "":
            object.__setattr__(self, "feature_store", None)
        if self.feature_store is not None:
            check_url(self.feature_store, "--feature-store")
        elif self.feature_sets:
            raise ConfigError("--feature-set needs --feature-store (the Redis URL the feature sets are in)")
        for model, target in self.feature_sets.items():
            set_name, _, entity = target.partition(":")
            check_set_name(set_name, f"--feature-set {model}")
            if ":" in target and not entity:
                raise ConfigError(f"--feature-set {model}={target}: name the entity key after ':' or leave ':' out")
        if not 0 < self.feature_timeout_ms <= 10_000:
            raise ConfigError(f"feature_timeout_ms must be above 0 and at most 10000 ms, got {self.feature_timeout_ms}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ServiceConfig:
        """Build from a mapping of field names (unknown keys are an error, to catch typos)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown service setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if "repo" not in values:
            raise ConfigError("the service needs 'repo', the model repository directory")
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServiceConfig:
        """Build from ``SCOREBRIDGE_*`` variables (for ``gunicorn 'scoring_service:create_app()'``)."""
        env = os.environ if environ is None else environ
        if not env.get("SCOREBRIDGE_REPO"):
            raise ConfigError("set SCOREBRIDGE_REPO to the model repository directory")
        values: dict[str, Any] = {"repo": env["SCOREBRIDGE_REPO"],
                                  "admin_token": env.get("SCOREBRIDGE_ADMIN_TOKEN"),
                                  "ui_token": env.get("SCOREBRIDGE_UI_TOKEN"),
                                  "jobs": env.get("SCOREBRIDGE_JOBS") or None,
                                  "feature_store": env.get("SCOREBRIDGE_FEATURE_STORE") or None}
        casts = {"engine": str, "trust_pickles": _flag, "engine_threads": int, "batch_threads": int,
                 "batch_rows": int, "poll_interval": float, "max_versions": int,
                 "max_records": int, "max_body_bytes": int, "audit_sample": float, "audit_log": _audit_dest,
                 "audit_max_bytes": int, "audit_keep": int, "ui": _flag,
                 "feature_timeout_ms": float, "feature_sets": parse_feature_sets}
        for key, cast in casts.items():
            raw = env.get(f"SCOREBRIDGE_{key.upper()}")
            if raw is not None:
                try:
                    values[key] = cast(raw)
                except ValueError as exc:
                    raise ConfigError(f"SCOREBRIDGE_{key.upper()}={raw!r}: {exc}") from None
        return cls(**values)

    def with_updates(self, **changes: Any) -> ServiceConfig:
        return replace(self, **changes)


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _flag(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def _audit_dest(text: str) -> str | None:
    return None if text.strip().lower() in ("", "off", "none") else text


def parse_feature_sets(text: str | list[str]) -> dict[str, str]:
    """``MODEL=SET[:ENTITY]`` items (a list, or comma-separated text) -> ``{model: "SET[:ENTITY]"}``."""
    items = text.split(",") if isinstance(text, str) else text
    out: dict[str, str] = {}
    for item in filter(None, (i.strip() for i in items)):
        model, eq, target = item.partition("=")
        if not eq or not model or not target:
            raise ConfigError(f"--feature-set {item!r}: expected MODEL=SET (or MODEL=SET:ENTITY)")
        out[model] = target
    return out
