"""The job file: a TOML document declaring one batch scoring job, validated strictly.

Every key is checked: an unknown key, a wrong type, a bad cron expression or time zone, or a model
that does not resolve fails with a :class:`~batch_jobs.errors.JobSpecError` naming the file and the
key (``credit.toml: schedule.cron: ...``). Relative paths resolve against the job file's folder, so a
job behaves the same from any working directory. See ``docs/batch.md`` for the reference.
"""

from __future__ import annotations

import os
import re
import string
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batch_jobs.errors import JobSpecError

ENGINES = ("local", "spark")
FORMATS = ("parquet", "csv")
RUNTIMES = ("auto", "onnx", "xgboost", "native", "pmml")
SPARK_IO = ("arrow", "dataframe")
PARTITION_KEY = "dt"
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_HIVE_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")

REQUIRED = object()  # marks a key without a default
# Each table's keys with their defaults. Keys not listed here are errors.
_TOP = {"name": REQUIRED, "model": REQUIRED, "engine": "local", "state_dir": ".scorebridge"}
_TABLES = {
    "input": {"path": REQUIRED, "format": "parquet", "wait_for_success": True, "wait_timeout": "0s",
              "poll_interval": "30s"},
    "output": {"path": REQUIRED, "keep_columns": [], "hive_table": None},
    "schedule": {"cron": REQUIRED, "timezone": "UTC", "lag_days": 1, "retries": 0, "retry_delay": "5m",
                 "misfire_grace": "1d", "catchup_days": 3},
    "local": {"batch_size": 32768, "threads": 2, "runtime": "auto", "trust_pickles": False},
    "spark": {"master": None, "io": "arrow", "conf": {}, "max_records_per_batch": 65536},
    "online": {"url": None, "entity": REQUIRED, "features": None, "name": None, "keep_batches": 2,
               "ttl_hours": 72, "additive": []},
}


def parse_duration(text: Any, key: str, source: Path) -> float:
    """Seconds in a duration such as ``"2h"``, ``"10m"``, ``"1h30m"``, ``"45s"``, ``"1d"`` or a number."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise JobSpecError(f"{source}: {key}: expected a duration such as \"10m\" or \"2h\", got {text!r}")
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        compact = text.replace(" ", "")
        parts = _DURATION_RE.findall(compact)
        if not parts or "".join(n + u for n, u in parts) != compact:
            raise JobSpecError(f"{source}: {key}: cannot read duration {text!r}: use a number with a "
                               "unit ms, s, m, h or d, e.g. \"10m\", \"2h\", \"1h30m\"")
        seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    if seconds < 0:
        raise JobSpecError(f"{source}: {key}: duration must not be negative")
    return seconds


@dataclass(frozen=True)
class InputSpec:
    """``[input]``: where the day's partition is and how to know it is complete."""

    path: str  # absolute, with a ``{ds}`` placeholder
    format: str
    wait_for_success: bool
    wait_timeout: float
    poll_interval: float

    def partition(self, ds: str) -> Path:
        """The input partition directory (or file) for ``ds``."""
        return Path(self.path.format(ds=ds, ds_nodash=ds.replace("-", "")))


@dataclass(frozen=True)
class OutputSpec:
    """``[output]``: the table root (partitions land in ``<path>/dt=<ds>/``) and carried columns."""

    path: Path
    keep_columns: tuple[str, ...]
    hive_table: str | None

    def partition(self, ds: str) -> Path:
        return self.path / f"{PARTITION_KEY}={ds}"


@dataclass(frozen=True)
class ScheduleSpec:
    """``[schedule]``: when the scheduler fires the job and which partition a run scores."""

    cron: str | None
    timezone: str
    lag_days: int
    retries: int
    retry_delay: float
    misfire_grace: float
    catchup_days: int  # look-back window of the scheduler's reconciliation; 0 = off

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def ds_for(self, moment: datetime | None = None) -> str:
        """The partition a run at ``moment`` (default now) scores: its date in the job's zone minus the lag."""
        moment = moment or datetime.now(self.tz)
        local_day = moment.astimezone(self.tz).date() if moment.tzinfo else moment.date()
        return (local_day - timedelta(days=self.lag_days)).isoformat()


@dataclass(frozen=True)
class LocalSpec:
    """``[local]``: tuning of the embedded engine."""

    batch_size: int
    threads: int  # batches scored at once, each by its own single-threaded engine
    runtime: str  # the bundle engine: auto (default: the xgboost fast path, else onnx, else pmml, whichever
    # the bundle holds), onnx, xgboost, native, pmml
    trust_pickles: bool


@dataclass(frozen=True)
class SparkSpec:
    """``[spark]``: the session's master, how tasks get their data, and extra configuration.

    ``io = "arrow"``: each task reads its split of the input and writes its output file with
    pyarrow (Spark schedules, retries and distributes). ``io = "dataframe"``: Spark reads the input,
    ``mapInArrow`` scores it and Spark writes the output.
    """

    master: str | None
    io: str
    conf: dict[str, str]
    max_records_per_batch: int


@dataclass(frozen=True)
class OnlineSpec:
    """``[online]``: after the partition commits, publish the day's input rows to the feature store.

    ``features`` ``None`` means every model input present in the input partition and ``name``
    ``None`` the model's name (both resolved at run time, see :mod:`batch_jobs.online`).
    """

    url: str
    url_from: str  # "online.url" or the environment variable it came from (for messages)
    entity: str
    features: tuple[str, ...] | None
    name: str | None
    keep_batches: int
    ttl_hours: float
    additive: tuple[str, ...]

    @property
    def ttl_seconds(self) -> int:
        return max(1, round(self.ttl_hours * 3600))


@dataclass(frozen=True)
class JobSpec:
    """A validated job file."""

    name: str
    model: str  # an absolute bundle reference: a directory or <repo>/<name>[@version]
    engine: str
    input: InputSpec
    output: OutputSpec
    schedule: ScheduleSpec
    local: LocalSpec
    spark: SparkSpec
    state_dir: Path
    source: Path
    online: OnlineSpec | None = None

    def default_ds(self) -> str:
        return self.schedule.ds_for()


def check_ds(text: str) -> str:
    """Validate a partition date ``YYYY-MM-DD``; returns it unchanged."""
    try:
        if date.fromisoformat(text).isoformat() == text:
            return text
    except (TypeError, ValueError):
        pass
    raise JobSpecError(f"invalid date {text!r}: use YYYY-MM-DD")


class _Reader:
    """Typed access to one TOML table, with errors that name ``<file>: <table>.<key>``."""

    def __init__(self, source: Path, table: dict[str, Any], prefix: str, allowed: dict[str, Any]) -> None:
        self.source, self.table, self.prefix = source, table, prefix
        for key in table:
            if key not in allowed:
                where = f"[{prefix.rstrip('.')}]" if prefix else "the top level"
                raise JobSpecError(f"{source}: {prefix}{key}: unknown key in {where} "
                                   f"(allowed: {', '.join(allowed)})")
        self.allowed = allowed

    def fail(self, key: str, message: str) -> JobSpecError:
        return JobSpecError(f"{self.source}: {self.prefix}{key}: {message}")

    def get(self, key: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.table.get(key, self.allowed[key])
        if value is REQUIRED:
            raise self.fail(key, f"required key is missing ({what})")
        if value is None:
            return None
        # TOML booleans are ints to isinstance; keep them apart
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(key, f"expected {what}, got {value!r}")
        return value

    def path(self, key: str) -> str:
        text = self.get(key, str, "a path string")
        if "://" in text and not text.startswith("file://"):
            raise self.fail(key, f"only local filesystem paths are supported, got {text!r}")
        text = os.path.expanduser(text.removeprefix("file://"))
        return text if os.path.isabs(text) else os.path.join(self.source.parent, text)

    def duration(self, key: str) -> float:
        return parse_duration(self.table.get(key, self.allowed[key]), self.prefix + key, self.source)

    def count(self, key: str, minimum: int) -> int:
        value = self.get(key, int, "an integer")
        if value < minimum:
            raise self.fail(key, f"must be at least {minimum}, got {value}")
        return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _table(source: Path, doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        raise JobSpecError(f"{source}: {name}: expected a table [{name}], got {value!r}")
    return value


def load_job(path: str | os.PathLike[str], *, check_model: bool = True) -> JobSpec:
    """Read and validate a job file; with ``check_model``, also check that the model resolves."""
    source = Path(path).absolute()
    try:
        doc = tomllib.loads(source.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JobSpecError(f"job file {source} does not exist") from None
    except OSError as exc:
        raise JobSpecError(f"{source}: cannot read the job file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise JobSpecError(f"{source}: not valid TOML ({exc})") from None

    top = _Reader(source, {k: v for k, v in doc.items() if k not in _TABLES}, "", _TOP)
    name = top.get("name", str, "a job name string")
    if not _NAME_RE.match(name):
        raise top.fail("name", f"invalid job name {name!r}: use a letter, then letters, digits, '_' or '-'")
    engine = top.get("engine", str, "\"local\" or \"spark\"")
    if engine not in ENGINES:
        raise top.fail("engine", f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}")
    model = _model_ref(top, check_model)

    inp = _Reader(source, _table(source, doc, "input"), "input.", _TABLES["input"])
    in_path = inp.path("path")
    fields = {f for _, f, _, _ in string.Formatter().parse(in_path) if f is not None}
    if not fields <= {"ds", "ds_nodash"}:
        raise inp.fail("path", f"unknown placeholder(s) {sorted(fields - {'ds', 'ds_nodash'})}: "
                               "only {ds} (YYYY-MM-DD) and {ds_nodash} (YYYYMMDD) are replaced")
    fmt = inp.get("format", str, "\"parquet\" or \"csv\"")
    if fmt not in FORMATS:
        raise inp.fail("format", f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    input_spec = InputSpec(path=in_path, format=fmt,
                           wait_for_success=inp.get("wait_for_success", bool, "true or false"),
                           wait_timeout=inp.duration("wait_timeout"),
                           poll_interval=max(inp.duration("poll_interval"), 0.05))

    out = _Reader(source, _table(source, doc, "output"), "output.", _TABLES["output"])
    keep = out.get("keep_columns", list, "a list of column names")
    if not all(isinstance(c, str) for c in keep) or len(set(keep)) != len(keep):
        raise out.fail("keep_columns", f"expected distinct column name strings, got {keep!r}")
    hive_table = out.get("hive_table", str, "a table name such as \"db.scores\"")
    if hive_table is not None and not _HIVE_TABLE_RE.match(hive_table):
        raise out.fail("hive_table", f"invalid table name {hive_table!r}: use name or db.name")
    if hive_table is not None and engine != "spark":
        raise out.fail("hive_table", "loading a Hive table needs engine = \"spark\"")
    output_spec = OutputSpec(path=Path(out.path("path")), keep_columns=tuple(keep), hive_table=hive_table)

    schedule_spec = _schedule(source, doc)

    loc = _Reader(source, _table(source, doc, "local"), "local.", _TABLES["local"])
    runtime = loc.get("runtime", str, "\"auto\", \"onnx\", \"xgboost\", \"native\" or \"pmml\"")
    if runtime not in RUNTIMES:
        raise loc.fail("runtime", f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    trust = loc.get("trust_pickles", bool, "true or false")
    if runtime == "native" and not trust:
        raise loc.fail("runtime", "the native runtime unpickles model.joblib, which executes code: set "
                                  "local.trust_pickles = true only for bundles you built")
    if check_model and runtime != "auto" and engine == "local":
        _check_runtime(loc, model, runtime)
    local_spec = LocalSpec(batch_size=loc.count("batch_size", 1), threads=loc.count("threads", 1),
                           runtime=runtime, trust_pickles=trust)

    spk = _Reader(source, _table(source, doc, "spark"), "spark.", _TABLES["spark"])
    conf = spk.get("conf", dict, "a table of Spark settings")
    if not all(isinstance(v, (str, int, float, bool)) for v in conf.values()):
        raise spk.fail("conf", "values must be strings, numbers or booleans")
    spark_io = spk.get("io", str, "\"arrow\" or \"dataframe\"")
    if spark_io not in SPARK_IO:
        raise spk.fail("io", f"unknown I/O mode {spark_io!r}: choose \"arrow\" (tasks read and write with pyarrow) "
                             "or \"dataframe\" (Spark reads and writes)")
    spark_spec = SparkSpec(master=spk.get("master", str, "a Spark master URL such as \"local[2]\""), io=spark_io,
                           conf={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in conf.items()},
                           max_records_per_batch=spk.count("max_records_per_batch", 1))

    return JobSpec(name=name, model=model, engine=engine, input=input_spec, output=output_spec,
                   schedule=schedule_spec, local=local_spec, spark=spark_spec,
                   state_dir=Path(top.path("state_dir")), source=source, online=_online(source, doc))


def _names(reader: _Reader, key: str) -> tuple[str, ...] | None:
    """A list of distinct, non-empty column name strings (``None`` when the key is absent)."""
    value = reader.get(key, list, "a list of column names")
    if value is None:
        return None
    if not all(isinstance(c, str) and c for c in value) or len(set(value)) != len(value):
        raise reader.fail(key, f"expected distinct column name strings, got {value!r}")
    return tuple(value)


def _online(source: Path, doc: dict[str, Any]) -> OnlineSpec | None:
    """The ``[online]`` table, or ``None`` when the job publishes nothing to a feature store."""
    if "online" not in doc:
        return None
    from online_features.store import ENV_URL, FeatureStoreError, check_set_name, check_url

    onl = _Reader(source, _table(source, doc, "online"), "online.", _TABLES["online"])
    url = onl.get("url", str, "a Redis URL such as \"redis://127.0.0.1:6379/0\"")
    url_from = "online.url"
    if url is None:
        url, url_from = os.environ.get(ENV_URL), ENV_URL
        if not url:
            raise onl.fail("url", f"required key is missing (a Redis URL; or set {ENV_URL})")
    try:
        check_url(url, f"{source}: online.url" + ("" if url_from == "online.url" else f" (from {ENV_URL})"))
    except FeatureStoreError as exc:
        raise JobSpecError(str(exc)) from None
    entity = onl.get("entity", str, "the entity key column's name")
    if not entity:
        raise onl.fail("entity", "expected the entity key column's name, got an empty string")
    name = onl.get("name", str, "a feature set name")
    if name is not None:
        try:
            check_set_name(name, f"{source}: online.name")
        except FeatureStoreError as exc:
            raise JobSpecError(str(exc)) from None
    features = _names(onl, "features")
    if features is not None and not features:
        raise onl.fail("features", "expected at least one column (or leave the key out: every model input)")
    if features is not None and entity in features:
        raise onl.fail("features", f"{entity!r} is the entity key (online.entity), not a feature")
    additive = _names(onl, "additive") or ()
    if features is not None and (extra := [a for a in additive if a not in features]):
        raise onl.fail("additive", f"{extra[0]!r} is not one of online.features")
    ttl = onl.get("ttl_hours", (int, float), "a number of hours")
    if not 0 < ttl < float("inf"):
        raise onl.fail("ttl_hours", f"must be a finite number of hours above 0, got {ttl!r}")
    return OnlineSpec(url=url, url_from=url_from, entity=entity, features=features, name=name,
                      keep_batches=onl.count("keep_batches", 1), ttl_hours=float(ttl), additive=additive)


def _model_ref(top: _Reader, check: bool) -> str:
    """The ``model`` key as an absolute reference, checked to resolve to a bundle."""
    ref = top.get("model", str, "a bundle directory or <repo>/<name>[@version]")
    base, at, version = ref.partition("@")
    base = os.path.expanduser(base)
    absolute = (base if os.path.isabs(base) else os.path.join(top.source.parent, base)) + at + version
    if check:
        from scorebridge.bundle import resolve
        from scorebridge.errors import BundleError

        try:
            resolve(absolute)
        except BundleError as exc:
            raise top.fail("model", str(exc)) from None
    return absolute


def _check_runtime(loc: _Reader, model: str, runtime: str) -> None:
    """An explicit runtime must find its artifact in the bundle (the manifest says what it holds)."""
    from scorebridge.bundle import Bundle
    from scorebridge.engines import choose_engine
    from scorebridge.errors import ScorebridgeError

    try:
        choose_engine(Bundle.load(model, verify=False), "batch", runtime)
    except ScorebridgeError as exc:
        raise loc.fail("runtime", str(exc)) from None


def _schedule(source: Path, doc: dict[str, Any]) -> ScheduleSpec:
    sch = _Reader(source, _table(source, doc, "schedule"), "schedule.", _TABLES["schedule"])
    tz_name = sch.get("timezone", str, "an IANA time zone such as \"Asia/Shanghai\"")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise sch.fail("timezone", f"unknown time zone {tz_name!r}: use an IANA name such as "
                                   "\"Asia/Shanghai\" or \"UTC\"") from None
    # a job without [schedule] can still be run by hand or backfilled; with one, cron is required
    cron = sch.get("cron", str, "a crontab expression such as \"0 5 * * *\"") if "schedule" in doc else None
    if cron is not None:
        from batch_jobs.triggers import cron_trigger

        try:
            cron_trigger(cron, tz)
        except ValueError as exc:
            raise sch.fail("cron", f"invalid cron expression {cron!r}: {exc}") from None
    return ScheduleSpec(cron=cron, timezone=tz_name, lag_days=sch.count("lag_days", 0),
                        retries=sch.count("retries", 0), retry_delay=sch.duration("retry_delay"),
                        misfire_grace=sch.duration("misfire_grace"), catchup_days=sch.count("catchup_days", 0))
