"""Per-worker CPU pinning (``--cpu-affinity``): each worker's request threads on a core of its own, big
requests on every core, and a respawned worker on the core its predecessor held."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from scoring_service import affinity
from scoring_service.testing import running_service, worker_pids
from service.helpers import json_records, verification

CPUS = sorted(os.sched_getaffinity(0))
needs_two_cpus = pytest.mark.skipif(len(CPUS) < 2, reason="pinning needs at least 2 CPUs")


def in_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a new thread (pinning changes the calling thread only: keep pytest's unpinned)."""
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(fn()))
    worker.start()
    worker.join()
    return out[0]


@pytest.fixture
def clean_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(affinity, "_pinned", None)
    monkeypatch.setattr(affinity, "_claim", None)


def test_auto_pins_only_one_worker_per_core() -> None:
    assert affinity.should_pin("auto", workers=2, cpus=2)
    assert not affinity.should_pin("auto", workers=3, cpus=2)
    assert not affinity.should_pin("auto", workers=1, cpus=1)
    assert affinity.should_pin("on", workers=3, cpus=2)
    assert not affinity.should_pin("off", workers=2, cpus=2)
    with pytest.raises(ValueError, match="auto, on, off"):
        affinity.should_pin("always", workers=2, cpus=2)


@needs_two_cpus
def test_claims_take_free_cores_then_round_robin(tmp_path: Path, clean_state: None) -> None:
    first = in_thread(lambda: (affinity.claim_core(tmp_path, 0), os.sched_getaffinity(0)))
    held = affinity._claim  # the first claim's lock, as a worker would hold it
    affinity._claim = None
    second = in_thread(lambda: (affinity.claim_core(tmp_path, 0), os.sched_getaffinity(0)))
    assert first[1] == {first[0]} and second[1] == {second[0]}
    assert first[0] != second[0], "two live workers got the same core"
    if len(CPUS) == 2:  # every core taken: the fallback index decides, round robin
        assert in_thread(lambda: affinity.claim_core(tmp_path, 3)) == CPUS[1]
    held.close()  # the first worker exits: its core is free again
    assert in_thread(lambda: affinity.claim_core(tmp_path, 1)) == first[0]


@needs_two_cpus
def test_every_core_unpins_the_call_and_the_threads_it_starts(tmp_path: Path, clean_state: None) -> None:
    def scenario() -> tuple[set[int], set[int], set[int], set[int]]:
        core = affinity.claim_core(tmp_path, 0)
        with affinity.every_core():
            inside = os.sched_getaffinity(0)
            started = in_thread(lambda: os.sched_getaffinity(0))  # like an OpenMP team thread
        return {core}, inside, started, os.sched_getaffinity(0)

    core, inside, started, after = in_thread(scenario)
    assert inside == set(CPUS) and started == set(CPUS)
    assert after == core


def test_every_core_is_a_no_op_when_not_pinned(clean_state: None) -> None:
    before = os.sched_getaffinity(0)
    with affinity.every_core():
        assert os.sched_getaffinity(0) == before


# -- the real server ---------------------------------------------------------------------------------
def main_thread_cpus(pid: int) -> set[int]:
    return os.sched_getaffinity(pid)  # a pid names the process's main thread


def pinned_workers(base: str) -> dict[int, set[int]] | None:
    """``{worker pid: its main thread's CPUs}`` once both workers are pinned to one CPU each, else ``None``
    (``/readyz`` answers as soon as one worker is ready; the other may still be loading)."""
    masks = {pid: main_thread_cpus(pid) for pid in worker_pids(base)}
    return masks if len(masks) == 2 and all(len(m) == 1 for m in masks.values()) else None


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (OSError, StopIteration):
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def one_model_repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("affinity") / "models"
    shutil.copytree(sample_repo / "credit_risk", dest / "credit_risk")
    return dest


def test_shared_server_pins_workers_to_distinct_cores(service: str, service_repo: Path) -> None:
    # the shared server runs 2 workers with --cpu-affinity auto: pinned exactly when this machine has 2 cores
    _, inputs, _ = verification(service_repo, "credit_risk")
    big = {"records": json_records(inputs)[:1] * 300}  # >= --batch-rows: the batch engine, on every core
    for _ in range(4):  # reach both workers
        with requests.Session() as fresh:
            assert fresh.post(f"{service}/v1/models/credit_risk/predict", json=big).status_code == 200
    if len(CPUS) == 2:
        pinned = list(wait_for(lambda: pinned_workers(service)).values())
        assert pinned[0] != pinned[1], pinned
    else:
        assert all(main_thread_cpus(pid) == set(CPUS) for pid in worker_pids(service))


@needs_two_cpus
def test_respawned_worker_takes_the_core_it_freed(one_model_repo: Path) -> None:
    with running_service(one_model_repo, workers=2, args=["--cpu-affinity", "on", "--audit-log", "off"]) as base:
        before = wait_for(lambda: pinned_workers(base))
        assert len({min(m) for m in before.values()}) == 2, before
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = wait_for(lambda: (now := pinned_workers(base)) and victim not in now and now)
        new_pid = next(pid for pid in after if pid not in before)
        assert after[new_pid] == before[victim]
        _, inputs, _ = verification(one_model_repo, "credit_risk")
        answer = requests.post(f"{base}/v1/models/credit_risk/predict", json={"records": json_records(inputs)[:3]},
                               timeout=30)
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 3


def test_off_leaves_workers_on_every_core(one_model_repo: Path) -> None:
    with running_service(one_model_repo, workers=2, args=["--cpu-affinity", "off", "--audit-log", "off"]) as base:
        assert all(main_thread_cpus(pid) == set(CPUS) for pid in worker_pids(base))
