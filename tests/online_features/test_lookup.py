"""FeatureLookup against a real redis-server, with batches written by the real publisher."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import redis

from online_features.layout import increment_key
from online_features.lookup import FeatureLookup, KeyResult
from online_features.publish import publish_batch
from online_features.server import running_redis


def _table(ids: list, income: list, orders: list) -> pa.Table:
    return pa.table({"customer_id": ids, "income": income, "orders_30d": orders})


def _publish(url: str, name: str, dt: str, table: pa.Table, **kw) -> None:
    publish_batch(url, name, table, entity="customer_id", features=["income", "orders_30d"], dt=dt, **kw)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


def test_current_previous_and_missing_keys(redis_url: str) -> None:
    _publish(redis_url, "lk_basic", "2026-11-29", _table(["c1", "c2"], [10.0, 20.0], [1, 2]))
    _publish(redis_url, "lk_basic", "2026-11-30", _table(["c1", "c3"], [11.0, None], [3, 4]))
    lookup = FeatureLookup(redis_url)
    c1, c2, c3, c9 = lookup.lookup("lk_basic", ["c1", "c2", "c3", "c9"])
    assert c1 == KeyResult(values={"income": 11.0, "orders_30d": 3}, batch="2026-11-30", fallback=False)
    assert c2 == KeyResult(values={"income": 20.0, "orders_30d": 2}, batch="2026-11-29", fallback=True)
    assert c3.values == {"income": None, "orders_30d": 4} and c3.outcome == "hit"
    assert c9 == KeyResult() and c9.outcome == "miss" and c9.annotation() == {"batch": None, "fallback": False}
    assert lookup.lookup("lk_never_published", ["c1"]) == [KeyResult()]


def test_a_publish_after_caching_is_seen_at_once(redis_url: str) -> None:
    _publish(redis_url, "lk_flip", "2026-11-29", _table(["c1"], [1.0], [1]))
    lookup = FeatureLookup(redis_url)
    assert lookup.lookup("lk_flip", ["c1"])[0].batch == "2026-11-29"
    _publish(redis_url, "lk_flip", "2026-11-30", _table(["c1"], [2.0], [2]))
    result = lookup.lookup("lk_flip", ["c1"])[0]
    assert (result.batch, result.values["income"]) == ("2026-11-30", 2.0)
    assert lookup.meta("lk_flip").current.dt == "2026-11-30"


def test_additive_features_add_the_days_after_the_batch(redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)
    old, new = _days_ago(3), _days_ago(1)
    _publish(redis_url, "lk_add", old, _table(["c1", "c2", "c3"], [1.0, 2.0, 3.0], [10, 20, None]),
             additive=["orders_30d"])
    _publish(redis_url, "lk_add", new, _table(["c1", "c3"], [1.5, 3.5], [11, None]), additive=["orders_30d"])
    for entity, day, n in [("c1", new, 100), ("c1", _today(), 2), ("c2", _days_ago(2), 5), ("c2", new, 7),
                           ("c2", _today(), 1), ("c3", _today(), 4), ("c1", _days_ago(2), 1000)]:
        r.hincrbyfloat(increment_key("lk_add", entity, day), "orders_30d", n)
    c1, c2, c3 = FeatureLookup(redis_url).lookup("lk_add", ["c1", "c2", "c3"])
    # c1: current batch (dt = yesterday): only today's increment; yesterday's and older are in the batch
    assert (c1.batch, c1.values) == (new, {"income": 1.5, "orders_30d": 13.0})
    # c2: the previous batch (3 days ago): every day after it up to today
    assert (c2.batch, c2.fallback, c2.values["orders_30d"]) == (old, True, 33.0)
    # c3: no batch value: it stays missing whatever the increments (its history is unknown)
    assert c3.values["orders_30d"] is None and c3.values["income"] == 3.5


def test_store_down_answers_unavailable_fast_and_backs_off() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lookup = FeatureLookup(f"redis://:secret@127.0.0.1:{port}/0", timeout_ms=20)
    start = time.perf_counter()
    first = lookup.lookup("any", ["c1", "c2"])
    again = [lookup.lookup("any", ["c1"]) for _ in range(100)]
    elapsed = time.perf_counter() - start
    assert [r.outcome for r in first] == ["unavailable", "unavailable"]
    assert all(r[0].error == "unavailable" for r in again)
    assert elapsed < 0.5
    assert lookup.refresh("any") == "unavailable"


def test_a_paused_store_is_a_timeout_within_the_budget() -> None:
    with running_redis() as url:
        _publish(url, "lk_pause", "2026-11-30", _table(["c1"], [1.0], [1]))
        lookup = FeatureLookup(url, timeout_ms=20)
        assert lookup.lookup("lk_pause", ["c1"])[0].outcome == "hit"
        admin = redis.Redis.from_url(url)
        admin.client_pause(1500)
        start = time.perf_counter()
        result = lookup.lookup("lk_pause", ["c1"])[0]
        elapsed = time.perf_counter() - start
        assert result.error == "timeout" and result.annotation() == {"batch": None, "error": "timeout"}
        assert elapsed < 0.2
        time.sleep(1.6)
        assert lookup.lookup("lk_pause", ["c1"])[0].outcome == "hit"  # the connection recovers by itself
