"""publish_batch and the store helpers against a real redis-server (the ``redis_url`` fixture)."""

from __future__ import annotations

import math
import threading
import uuid

import numpy as np
import orjson
import pyarrow as pa
import pytest

from online_features import layout
from online_features.publish import encode_rows, publish_batch
from online_features.store import FeatureStoreError, check_set_name, check_url, client, read_meta, redact

FEATURES = ["income", "age", "segment"]


@pytest.fixture
def r(redis_url):
    with client(redis_url) as conn:
        yield conn


@pytest.fixture
def name() -> str:
    """A fresh feature set name per test: the session's redis-server is shared."""
    return f"fs-{uuid.uuid4().hex[:10]}"


def table(n: int, *, offset: int = 0, scale: float = 1.0) -> pa.Table:
    ids = list(range(offset, offset + n))
    return pa.table({"customer_id": ids, "income": [i * scale + 0.5 for i in ids], "age": [i % 90 for i in ids],
                     "segment": [["a", "b", "c"][i % 3] for i in ids], "other": [1] * n})


def lookup(r, name: str, entity: str, token: str | None = None) -> list | None:
    """An entity's values, reading the pointer as a reader would."""
    meta = read_meta(r, name)
    batch = next(b for b in meta.batches if b.token == token) if token else meta.current
    raw = r.hget(layout.bucket_key(name, layout.bucket_of(entity, batch.buckets), batch.token), entity)
    return None if raw is None else orjson.loads(raw)


def set_keys(r, name: str) -> set[str]:
    return {k.decode() for k in r.scan_iter(match=f"sb:{{{name}*", count=1000)}


def publish(redis_url, name, t, dt, **options):
    return publish_batch(redis_url, name, t, entity="customer_id", features=FEATURES, dt=dt, **options)


def test_publish_writes_every_entity_and_the_pointer(r, redis_url, name):
    result = publish(redis_url, name, table(1000), "2026-11-30")
    assert (result.entities, result.token, result.batches) == (1000, "2026-11-30.1", ("2026-11-30",))
    meta = read_meta(r, name)
    cur = meta.current
    assert (cur.dt, cur.features, cur.entities, cur.entity) == ("2026-11-30", tuple(FEATURES), 1000, "customer_id")
    assert cur.buckets == layout.bucket_count(1000) == result.buckets
    assert lookup(r, name, "7") == [7.5, 7, "b"]
    assert lookup(r, name, "999") == [999.5, 9, "a"]
    assert lookup(r, name, "1000") is None
    fields = sum(r.hlen(layout.bucket_key(name, b, cur.token)) for b in range(cur.buckets))
    assert fields == 1000


def test_every_bucket_key_has_the_ttl(r, redis_url, name):
    publish(redis_url, name, table(500), "2026-11-30", ttl_seconds=3600)
    keys = set_keys(r, name)
    buckets = keys - {layout.meta_key(name)}
    assert len(buckets) == layout.bucket_count(500)
    ttls = {r.ttl(k) for k in buckets}
    assert all(3590 <= t <= 3600 for t in ttls), ttls
    assert r.ttl(layout.meta_key(name)) == -1  # the pointer itself persists


def test_keep_batches_drops_the_oldest_and_its_keys(r, redis_url, name):
    tokens = [publish(redis_url, name, table(300, scale=d), f"2026-11-2{d}").token for d in (1, 2, 3)]
    meta = read_meta(r, name)
    assert [b.dt for b in meta.batches] == ["2026-11-23", "2026-11-22"]
    assert not any(k.endswith(":" + tokens[0]) for k in set_keys(r, name))
    assert any(k.endswith(":" + tokens[1]) for k in set_keys(r, name))
    assert f"batch:{tokens[0]}" not in {k.decode() for k in r.hkeys(layout.meta_key(name))}
    assert lookup(r, name, "10") == [10 * 3 + 0.5, 10, "b"]
    assert lookup(r, name, "10", tokens[1]) == [10 * 2 + 0.5, 10, "b"]
    publish(redis_url, name, table(300), "2026-11-24", keep_batches=1)
    assert [b.dt for b in read_meta(r, name).batches] == ["2026-11-24"]
    assert {k.rsplit(":", 1)[1] for k in set_keys(r, name) - {layout.meta_key(name)}} == {"2026-11-24.4"}


def test_an_older_date_published_late_keeps_the_newest_current(r, redis_url, name):
    publish(redis_url, name, table(100), "2026-11-25")
    publish(redis_url, name, table(100), "2026-11-24")
    assert [b.dt for b in read_meta(r, name).batches] == ["2026-11-25", "2026-11-24"]


def test_rerun_of_a_date_replaces_it_with_a_new_token(r, redis_url, name):
    publish(redis_url, name, table(200), "2026-11-29")
    first = publish(redis_url, name, table(400, scale=10), "2026-11-30")
    again = publish(redis_url, name, table(150, offset=1000, scale=100), "2026-11-30")
    assert again.token != first.token
    meta = read_meta(r, name)
    assert [b.dt for b in meta.batches] == ["2026-11-30", "2026-11-29"]
    assert meta.current.token == again.token and meta.current.entities == 150
    assert not any(k.endswith(":" + first.token) for k in set_keys(r, name))
    assert lookup(r, name, "5") is None  # only in the replaced batch: no mix of old and new rows
    assert lookup(r, name, "1005") == [1005 * 100 + 0.5, 1005 % 90, "a"]


def test_the_pointer_moves_only_after_every_key_is_written(r, redis_url, name):
    """A reader polling during a publish sees the old batch whole until the pointer moves, then the new
    one whole: every entity of whatever batch the pointer names is there."""
    publish(redis_url, name, table(3000), "2026-11-29")
    seen: list[tuple[str, int]] = []
    stop = threading.Event()

    def reader() -> None:
        with client(redis_url) as conn:
            while not stop.is_set():
                cur = read_meta(conn, name).current
                found = sum(conn.hlen(layout.bucket_key(name, b, cur.token)) for b in range(cur.buckets))
                seen.append((cur.token, found - cur.entities))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        publish(redis_url, name, table(20000, scale=2), "2026-11-30")
    finally:
        stop.set()
        thread.join()
    assert {t for t, _ in seen} <= {"2026-11-29.1", "2026-11-30.2"}
    assert all(missing == 0 for _, missing in seen), [s for s in seen if s[1]][:3]


def test_a_publish_failing_midway_keeps_the_pointer_and_the_rerun_gets_a_fresh_token(name):
    """A real failure while writing (the server runs out of memory): the previous batch still serves,
    and the next publish writes under a new token, never into the orphaned keys."""
    from online_features.server import running_redis

    with running_redis(extra=("--maxmemory", "3mb", "--maxmemory-policy", "noeviction")) as url, client(url) as r:
        publish(url, name, table(100), "2026-11-29")
        with pytest.raises(FeatureStoreError) as err:
            publish(url, name, table(200_000, scale=2), "2026-11-30")
        assert "OutOfMemoryError" in str(err.value) and "previous batches still serve" in str(err.value)
        assert "\n" not in str(err.value)
        meta = read_meta(r, name)
        assert [b.token for b in meta.batches] == ["2026-11-29.1"] and meta.generation == 1
        assert lookup(r, name, "42") == [42.5, 42, "a"]
        orphans = {k.rsplit(":", 1)[1] for k in set_keys(r, name)} - {"meta", "2026-11-29.1"}
        assert orphans == {"2026-11-30.2"}
        assert all(r.ttl(k) > 0 for k in set_keys(r, name) if k.endswith("2026-11-30.2"))
        r.config_set("maxmemory", "0")
        again = publish(url, name, table(1000, offset=500_000, scale=3), "2026-11-30")
        assert again.token == "2026-11-30.3"
        assert lookup(r, name, "500001") == [500001 * 3 + 0.5, 500001 % 90, "a"]
        assert lookup(r, name, "42") is None  # only the orphan had it: never read


BAD_TABLES = {
    "missing column": (pa.table({"customer_id": [1, 2], "income": [1.0, 2.0], "age": [1, 2]}), "'segment'"),
    "null key": (pa.table({"customer_id": [1, None], "income": [1.0, 2.0], "age": [1, 2], "segment": ["a", "b"]}),
                 "null"),
    "duplicate key": (pa.table({"customer_id": ["x", "x"], "income": [1.0, 2.0], "age": [1, 2],
                                "segment": ["a", "b"]}), "'x'"),
    "fractional key": (pa.table({"customer_id": [1.0, 2.5], "income": [1.0, 2.0], "age": [1, 2],
                                 "segment": ["a", "b"]}), "fractional"),
    "boolean key": (pa.table({"customer_id": [True, False], "income": [1.0, 2.0], "age": [1, 2],
                              "segment": ["a", "b"]}), "bool"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_tables_are_one_line_errors_and_write_nothing(r, redis_url, name, case):
    bad, needle = BAD_TABLES[case]
    with pytest.raises(FeatureStoreError) as err:
        publish(redis_url, name, bad, "2026-11-30")
    message = str(err.value)
    assert "\n" not in message and needle in message and "customer_id" in message or needle == "'segment'"
    assert needle in message
    assert set_keys(r, name) == set()


def test_whole_float_keys_are_their_integers_text(r, redis_url, name):
    t = pa.table({"customer_id": [1.0, 42.0, None], "income": [1.0, 2.0, 3.0], "age": [1, 2, 3],
                  "segment": ["a", "b", "c"]}).slice(0, 2)
    publish(redis_url, name, t, "2026-11-30")
    assert lookup(r, name, "42") == [2.0, 2, "b"]


@pytest.mark.parametrize("bad", ["http://127.0.0.1:6379", "redis://", "redis://host:99999/0", "redis://host/x",
                                 "", "redis://:s3cret@host:notaport/0"])
def test_bad_urls_are_one_line_errors(bad, name):
    with pytest.raises(FeatureStoreError) as err:
        publish(bad, name, table(3), "2026-11-30")
    assert "\n" not in str(err.value) and "s3cret" not in str(err.value)


@pytest.mark.parametrize("bad", ["", "-x", "a b", "a{b}", "a:b", "é", None])
def test_bad_set_names_are_one_line_errors(r, redis_url, bad):
    with pytest.raises(FeatureStoreError) as err:
        publish(redis_url, bad, table(3), "2026-11-30")
    assert "\n" not in str(err.value) and "feature set" in str(err.value)
    with pytest.raises(FeatureStoreError):
        check_set_name(bad)


def test_bad_options_are_one_line_errors(r, redis_url, name):
    for options, needle in [({"keep_batches": 0}, "keep_batches"), ({"additive": ["nope"]}, "'nope'"),
                            ({"ttl_seconds": 0}, "ttl")]:
        with pytest.raises(FeatureStoreError, match=needle):
            publish(redis_url, name, table(3), "2026-11-30", **options)
    with pytest.raises(FeatureStoreError, match="dt"):
        publish(redis_url, name, table(3), "30/11/2026")
    assert set_keys(r, name) == set()


def test_a_password_never_appears_in_errors(tmp_path, name):
    secret = "hunter2-Secret"
    with redis_server_with_password(secret) as (port, _):
        url = f"redis://default:{secret}@127.0.0.1:{port}/0"
        wrong = f"redis://default:WRONG-{secret}@127.0.0.1:{port}/0"
        with pytest.raises(FeatureStoreError) as err:
            publish(wrong, name, table(3), "2026-11-30")
        assert secret not in str(err.value) and "***" in str(err.value) and "\n" not in str(err.value)
        assert publish(url, name, table(3), "2026-11-30").entities == 3
    with pytest.raises(FeatureStoreError) as err:  # the server is gone: a connection error
        publish(url, name, table(3), "2026-11-30")
    assert secret not in str(err.value) and "127.0.0.1" in str(err.value) and "\n" not in str(err.value)


def redis_server_with_password(secret: str):
    from contextlib import contextmanager

    from online_features.server import running_redis

    @contextmanager
    def run():
        with running_redis(extra=("--requirepass", secret)) as url:
            yield int(url.rsplit(":", 1)[1].split("/")[0]), url

    return run()


def test_redact_and_check_url():
    assert redact("redis://u:pw@h:6379/0") == "redis://u:***@h:6379/0"
    assert redact("redis://:pw@h/0") == "redis://:***@h/0"
    assert redact("redis://h:6379/0") == "redis://h:6379/0"
    assert check_url("unix:///tmp/redis.sock") == "unix:///tmp/redis.sock"
    with pytest.raises(FeatureStoreError, match=r"^online\.url: .*\*\*\*"):
        check_url("redis://:pw@h:0/0", "online.url")


def test_encoded_values_decode_to_exactly_the_input():
    """Floats round-trip bit for bit; NaN and nulls become null; strings keep every character."""
    floats = [0.1, 1 / 3, -0.0, 1e-300, 5e-324, 1.7976931348623157e308, 123456789.125, 1e22, 2.0 ** 60, -7.0,
              math.nan, None, math.inf, -math.inf, 3.0]
    n = len(floats)
    strings = ['plain', 'quo"te', 'back\\slash', 'tab\tnew\nline', 'ünï€ode', '\x00\x1f', '', None, 'plain',
               '😀', '</script>', "'", 'a,b', '[1]', 'plain']
    t = pa.table({"f": pa.array(floats, pa.float64()), "f32": pa.array([1.5, 0.1] * 7 + [None], pa.float32()),
                  "i": pa.array([-2 ** 63, 2 ** 63 - 1, 0] + [None] + list(range(n - 4)), pa.int64()),
                  "u8": pa.array(list(range(n)), pa.uint8()), "b": pa.array([True, False, None] * 5),
                  "s": pa.array(strings), "d": pa.array(strings).dictionary_encode(),
                  "ls": pa.array(strings, pa.large_string())})
    rows = [orjson.loads(v) for v in encode_rows(t, t.column_names)]
    for row, src in zip(rows, t.to_pylist()):
        expect = [None if isinstance(v, float) and not math.isfinite(v) else v for v in src.values()]
        assert row == expect
        f = row[0]
        if f is not None:
            assert math.copysign(1, float(f)) == math.copysign(1, src["f"]) and float(f).hex() == src["f"].hex()
    assert [r[1] for r in rows[:2]] == [1.5, float(pa.scalar(0.1, pa.float32()).as_py())]


def test_features_of_an_unsupported_type_are_one_line_errors(redis_url, name):
    t = table(3).append_column("when", pa.array([1, 2, 3], pa.timestamp("s")))
    with pytest.raises(FeatureStoreError, match="'when'"):
        publish_batch(redis_url, name, t, entity="customer_id", features=["income", "when"], dt="2026-11-30")


def test_random_floats_round_trip_bit_for_bit():
    rng = np.random.default_rng(3)
    bits = rng.integers(0, 2 ** 63, 200_000, dtype=np.uint64) | (rng.integers(0, 2, 200_000, dtype=np.uint64) << 63)
    values = bits.view(np.float64)
    ints = rng.integers(-2 ** 63, 2 ** 63 - 1, 200_000, dtype=np.int64, endpoint=True)
    t = pa.table({"f": values, "i": ints})
    rows = [orjson.loads(v) for v in encode_rows(t, ["f", "i"])]
    for (f, i), x, n in zip(rows, values.tolist(), ints.tolist()):
        if math.isfinite(x):
            assert isinstance(f, float) and f.hex() == x.hex()
        else:
            assert f is None
        assert i == n


def test_published_values_decode_to_the_input(r, redis_url, name):
    t = pa.table({"customer_id": ["a", "b", "c"], "x": [0.1, math.nan, None], "n": pa.array([1, None, 3], pa.int16()),
                  "s": pa.array(["é\"", None, "é\""]).dictionary_encode()})
    publish_batch(redis_url, name, t, entity="customer_id", features=["s", "x", "n"], dt="2026-11-30")
    assert [lookup(r, name, k) for k in "abc"] == [["é\"", 0.1, 1], [None, None, None], ["é\"", None, 3]]


def test_two_publishes_at_once_both_end_up_served(redis_url, r, name):
    """The flip re-reads the pointer under WATCH: a publish that flipped meanwhile is kept."""
    errors: list[BaseException] = []

    def run(dt: str, scale: float) -> None:
        try:
            publish(redis_url, name, table(20_000, scale=scale), dt)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(dt, s)) for dt, s in (("2026-11-29", 1), ("2026-11-30", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    meta = read_meta(r, name)
    assert [b.dt for b in meta.batches] == ["2026-11-30", "2026-11-29"] and meta.generation >= 2
    assert len({b.token for b in meta.batches}) == 2
    assert lookup(r, name, "3") == [6.5, 3, "a"]
    assert lookup(r, name, "3", meta.batches[1].token) == [3.5, 3, "a"]
