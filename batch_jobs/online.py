"""The ``[online]`` step of a job: publish the day's input rows to the feature store after the commit.

:func:`resolve` runs before scoring starts (a missing entity or feature column is a one-line error
with nothing written); :func:`publish_partition` runs once the output partition holds its
``_SUCCESS``: it reads the input partition's entity and feature columns with pyarrow (as the job
reads them: Parquet, or CSV with the model's types and the entity column as text), publishes them
as batch ``dt`` (:func:`online_features.publish.publish_batch`) and writes ``_PUBLISHED.json`` into
the output partition (tmp + rename). ``scorebridge batch publish`` calls it again for a committed
date.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads

from batch_jobs.errors import BatchError
from batch_jobs.failures import one_line, unreadable_input
from batch_jobs.partition import SUCCESS, write_durably
from batch_jobs.spec import JobSpec
from scorebridge.bundle import Bundle

PUBLISHED = "_PUBLISHED.json"


class PublishError(BatchError):
    """The partition committed, but publishing it to the feature store failed."""


@dataclass(frozen=True)
class OnlineTarget:
    """What a run publishes: the ``[online]`` table with its defaults resolved against the input."""

    name: str
    entity: str
    features: tuple[str, ...]
    additive: tuple[str, ...]


def _dataset(spec: JobSpec, path: Path, bundle: Bundle) -> pads.Dataset:
    """The input partition as the job reads it; in CSV the entity column stays text (``007`` is ``007``)."""
    if spec.input.format == "csv":
        types = {f.name: (pa.float64() if f.is_numeric else pa.string()) for f in bundle.schema.fields}
        types[spec.online.entity] = pa.string()
        fmt: Any = pads.CsvFileFormat(convert_options=pacsv.ConvertOptions(column_types=types))
    else:
        fmt = "parquet"
    try:
        return pads.dataset(str(path), format=fmt)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_input(path, exc) from None


def resolve(spec: JobSpec, bundle: Bundle, input_path: Path) -> OnlineTarget:
    """The feature set, entity and features a run of ``spec`` publishes; a one-line error naming the
    ``online.*`` key when a column is not in the input partition (checked before anything is written)."""
    from batch_jobs.local import check_files

    online = spec.online
    schema = _dataset(spec, input_path, bundle).schema
    names = schema.names
    where = f"{spec.source}: online"
    if online.entity not in names:
        raise BatchError(f"{where}.entity: column {online.entity!r} is not in the input partition {input_path} "
                         f"(it has: {', '.join(names)}); nothing was written")
    if online.features is None:
        features = tuple(c for c in bundle.schema.names if c in names and c != online.entity)
        if not features:
            raise BatchError(f"{where}.features: none of the model's inputs is in the input partition "
                             f"{input_path}; list the columns to publish; nothing was written")
    else:
        features = online.features
        missing = [c for c in features if c not in names]
        if missing:
            raise BatchError(f"{where}.features: column {missing[0]!r} is not in the input partition "
                             f"{input_path} (it has: {', '.join(names)}); nothing was written")
    extra = [a for a in online.additive if a not in features]
    if extra:
        raise BatchError(f"{where}.additive: {extra[0]!r} is not one of the published features "
                         f"({', '.join(features)}); nothing was written")
    from online_features.encode import check_feature_type
    from online_features.publish import check_entity_type
    from online_features.store import FeatureStoreError, check_set_name

    try:
        check_entity_type(schema.field(online.entity).type, online.entity)
        for feature in features:
            check_feature_type(schema.field(feature).type, feature)
    except FeatureStoreError as exc:
        raise BatchError(f"{where}: {exc}; nothing was written") from None
    dataset = _dataset(spec, input_path, bundle)
    check_files(dataset, [online.entity, *features], str(input_path))
    _check_keys(dataset, online.entity, f"{where}.entity")
    name = online.name or bundle.name
    try:
        check_set_name(name, f"{where}.name (default: the model's name)")
    except FeatureStoreError as exc:
        raise BatchError(f"{exc}; nothing was written") from None
    return OnlineTarget(name=name, entity=online.entity, features=features, additive=online.additive)


def _check_keys(dataset: pads.Dataset, entity: str, where: str) -> None:
    """Null, repeated or fractional keys fail before scoring (reading the key column only), not
    after the commit: the data needs fixing, and retrying the run would not help."""
    from online_features.publish import check_unique, entity_array, key_crcs
    from online_features.store import FeatureStoreError

    try:
        keys = entity_array(dataset.to_table(columns=[entity]).column(entity), entity)
        check_unique(keys, key_crcs(keys), entity)
    except (OSError, pa.ArrowException) as exc:
        raise unreadable_input(dataset.files[0] if dataset.files else "input", exc) from None
    except FeatureStoreError as exc:
        raise BatchError(f"{where}: {exc}") from None


def publish_partition(spec: JobSpec, bundle: Bundle, ds: str, input_path: Path, output: Path,
                      target: OnlineTarget | None = None) -> dict[str, Any]:
    """Publish ``input_path``'s rows as batch ``ds`` and record it in ``output/_PUBLISHED.json``.

    Raises :class:`PublishError` (one line, saying the partition is committed and how to retry)
    when reading or publishing fails; the previous batches keep serving then.
    """
    from online_features.publish import publish_batch
    from online_features.store import redact

    online = spec.online
    retry = f"`scorebridge batch publish {spec.source} --date {ds}` retries"
    started = time.perf_counter()
    try:
        target = target or resolve(spec, bundle, input_path)
        table = _dataset(spec, input_path, bundle).to_table(columns=[target.entity, *target.features])
        result = publish_batch(online.url, target.name, table, entity=target.entity, features=target.features,
                               dt=ds, keep_batches=online.keep_batches, ttl_seconds=online.ttl_seconds,
                               additive=target.additive, timezone=spec.schedule.timezone)
    except Exception as exc:  # a column, an unreadable file, FeatureStoreError, anything redis-py raised
        raise PublishError(f"{spec.name} dt={ds}: the partition {output} is committed, but publishing it to the "
                           f"feature store failed: {one_line(exc)}; {retry}") from None
    record = {"feature_set": result.feature_set, "dt": result.dt, "token": result.token,
              "entities": result.entities, "features": list(result.features), "entity": target.entity,
              "additive": list(target.additive), "batches": list(result.batches),
              "keep_batches": online.keep_batches, "ttl_hours": online.ttl_hours,
              "duration_s": round(time.perf_counter() - started, 3), "url": redact(online.url),
              "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        write_published(output, record)
    except OSError as exc:
        raise PublishError(f"{spec.name} dt={ds}: batch {result.token} of feature set {result.feature_set!r} "
                           f"is published, but {output / PUBLISHED} could not be written: {one_line(exc)}; "
                           f"{retry}") from None
    return record


def write_published(partition: Path, record: dict[str, Any]) -> Path:
    """Write ``_PUBLISHED.json`` atomically: a temporary file, fsynced, renamed over the old one."""
    final = partition / PUBLISHED
    tmp = partition / f".{PUBLISHED}.{os.getpid()}.tmp"
    try:
        write_durably(tmp, (json.dumps(record, indent=2) + "\n").encode())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final




def publish_committed(spec: JobSpec, ds: str) -> dict[str, Any]:
    """``scorebridge batch publish``: (re)publish committed date ``ds`` of ``spec``."""
    if spec.online is None:
        raise BatchError(f"{spec.source}: the job has no [online] table: nothing to publish")
    output = spec.output.partition(ds)
    if not (output / SUCCESS).exists():
        raise BatchError(f"{output} is not committed (no {SUCCESS}): `scorebridge batch run {spec.source} "
                         f"--date {ds}` scores and publishes it")
    input_path = spec.input.partition(ds)
    if not input_path.exists():
        raise BatchError(f"input partition {input_path} does not exist any more: nothing to publish")
    bundle = Bundle.load(spec.model, verify=False)
    return publish_partition(spec, bundle, ds, input_path, output)


def describe(record: dict[str, Any]) -> str:
    """The stdout words for a publish: ``published 2,000 entities x 7 features to feature set ...``."""
    return (f"published {record['entities']:,} entities x {len(record['features'])} features to feature set "
            f"{record['feature_set']!r} (batch {record['token']}, {record['duration_s']:.1f}s)")
