"""Operations under load: SIGHUP, SIGTERM, a killed worker and log rotation lose no request and no
audit line; a full disk costs audit lines (counted), never a request."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scoring_service.testing import connections_by_worker, master_pid, running_service, worker_pids
from service.helpers import json_records, verification
from service.load import Load

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads worker sockets from /proc")


@pytest.fixture(scope="module")
def credit_repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("ops") / "models"
    shutil.copytree(sample_repo / "credit_risk", repo / "credit_risk")
    return repo


@pytest.fixture(scope="module")
def payload(credit_repo: Path) -> dict:
    _, inputs, _ = verification(credit_repo, "credit_risk")
    return {"records": json_records(inputs.head(2))}


def audit_ids(*paths: Path) -> list[str]:
    """Request ids of the audit lines in ``paths``; every line must be whole JSON."""
    ids = []
    for path in paths:
        if path.exists():
            ids += [json.loads(line)["request_id"] for line in path.read_text().splitlines()]
    return ids


def listening(base: str, pid: int) -> bool:
    """Whether worker ``pid`` has a listening socket on ``base``'s port."""
    port = int(base.rsplit(":", 1)[1])
    inodes = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if line.split()[3] == "0A" and int(line.split()[1].rsplit(":", 1)[1], 16) == port}
    try:
        return any(os.readlink(fd)[8:-1] in inodes for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def wait_until(predicate, timeout: float = 60.0, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def server(credit_repo: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    audit = tmp_path / "audit.jsonl"
    with running_service(credit_repo, workers=2, args=["--audit-log", str(audit), "--poll-interval", "0",
                                                       "--cpu-affinity", "off"]) as base:
        yield base, audit


def test_sighup_reloads_every_worker_with_no_failed_request(server: tuple[str, Path], payload: dict) -> None:
    base, audit = server
    before = set(worker_pids(base))
    with Load(f"{base}/v1/models/credit_risk/predict", payload) as load:
        load.wait_for(200)
        os.kill(master_pid(base), signal.SIGHUP)
        # the old workers serve until their replacements listen, then drain
        wait_until(lambda: len(worker_pids(base)) == 2 and not set(worker_pids(base)) & before)
        load.wait_for(300)
    assert load.lost == [] and set(load.statuses) == {200}, (load.lost[:3], load.statuses)
    assert sorted(audit_ids(audit)) == sorted(load.answered)  # one whole line per answer, none lost
    metrics = requests.get(f"{base}/metrics")  # the new workers share the metrics directory (it once vanished)
    assert metrics.status_code == 200 and "scorebridge_requests_total" in metrics.text


def test_sigterm_drains_what_it_accepted(credit_repo: Path, tmp_path: Path, payload: dict) -> None:
    audit = tmp_path / "audit.jsonl"
    with running_service(credit_repo, workers=2, args=["--audit-log", str(audit), "--poll-interval", "0"]) as base:
        master = master_pid(base)
        with Load(f"{base}/v1/models/credit_risk/predict", payload, refused_ok=True) as load:
            load.wait_for(200)
            os.kill(master, signal.SIGTERM)
            wait_until(lambda: not Path(f"/proc/{master}").exists() or
                       Path(f"/proc/{master}/stat").read_text().split()[2] == "Z", timeout=30)
    # every request the server took was answered; later ones found the port closed (refused, not lost)
    assert load.lost == [] and set(load.statuses) == {200}, (load.lost[:3], load.statuses)
    assert load.total() >= 200
    assert sorted(audit_ids(audit)) == sorted(load.answered)


def test_clients_spread_over_workers_again_after_one_is_killed(server: tuple[str, Path], payload: dict) -> None:
    base, audit = server
    before = worker_pids(base)
    with Load(f"{base}/v1/models/credit_risk/predict", payload, threads=8, retry=True) as load:
        load.wait_for(200)
        victim = max(connections_by_worker(base).items(), key=lambda kv: kv[1])[0]
        os.kill(victim, signal.SIGKILL)
        respawned = wait_until(lambda: (pids := worker_pids(base)) and len(pids) == 2 and victim not in pids
                               and pids, timeout=60)
        # the replacement listens once its models are loaded; from then on, within 10 s, the clients'
        # keep-alive connections (recycled every few seconds) are spread over both workers again
        new = next(pid for pid in respawned if pid not in before)
        wait_until(lambda: Path(f"/proc/{new}").exists() and listening(base, new), timeout=60)
        seen = []  # (seconds since the replacement listens, connections per worker)
        start = time.monotonic()
        while time.monotonic() - start < 10:
            seen.append((round(time.monotonic() - start, 1), connections_by_worker(base)))
            if all(seen[-1][1].get(p, 0) >= 2 for p in respawned):
                break
            time.sleep(0.1)
        assert all(seen[-1][1].get(p, 0) >= 2 for p in respawned), seen[::5]
        load.wait_for(100)
    assert load.lost == [] and set(load.statuses) == {200}, (load.lost[:3], load.statuses)
    answered = set(load.answered)
    assert answered <= set(audit_ids(audit))  # every answer has its line (a retried one may have two)


def test_logrotate_loses_no_audit_line(server: tuple[str, Path], payload: dict, tmp_path: Path) -> None:
    base, audit = server
    logrotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not Path(logrotate).exists():
        pytest.skip("logrotate is not installed (scripts/bootstrap.sh installs it)")
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{audit} {{\n  rotate 5\n  missingok\n  nocompress\n}}\n")  # rename, then a new file
    state = tmp_path / "logrotate.state"
    with Load(f"{base}/v1/models/credit_risk/predict", payload) as load:
        load.wait_for(150)
        subprocess.run([logrotate, "--force", "--state", str(state), str(conf)], check=True, timeout=30)
        load.wait_for(150)
        os.kill(master_pid(base), signal.SIGUSR1)  # what a postrotate script sends: reopen now
        subprocess.run([logrotate, "--force", "--state", str(state), str(conf)], check=True, timeout=30)
        load.wait_for(150)
    assert load.lost == [] and set(load.statuses) == {200}
    files = [audit, audit.with_name("audit.jsonl.1"), audit.with_name("audit.jsonl.2")]
    assert all(f.exists() and f.stat().st_size for f in files), [f.name for f in audit.parent.iterdir()]
    assert sorted(audit_ids(*files)) == sorted(load.answered)
    assert audit_ids(audit)  # the workers write to the new file, not (only) to the renamed ones


def test_size_rotation_keeps_every_line_in_order(credit_repo: Path, tmp_path: Path, payload: dict) -> None:
    audit = tmp_path / "audit.jsonl"
    args = ["--audit-log", str(audit), "--audit-max-mb", "0.02", "--audit-keep", "50", "--poll-interval", "0"]
    with running_service(credit_repo, workers=2, args=args) as base, \
            Load(f"{base}/v1/models/credit_risk/predict", payload) as load:
        load.wait_for(600)
    rotated = sorted(audit.parent.glob("audit.jsonl.*"), key=lambda p: int(p.suffix[1:]))
    assert len(rotated) >= 3
    for f in rotated:  # a file is rotated by the line that takes it past the limit
        assert 0.02 * 2**20 <= f.stat().st_size <= 0.02 * 2**20 + 1000, (f, f.stat().st_size)
    assert sorted(audit_ids(audit, *rotated)) == sorted(load.answered)
    args = ["--audit-log", str(tmp_path / "keep2.jsonl"), "--audit-max-mb", "0.01", "--audit-keep", "2",
            "--poll-interval", "0"]
    with running_service(credit_repo, workers=1, args=args) as base, \
            Load(f"{base}/v1/models/credit_risk/predict", payload, threads=2) as load:
        load.wait_for(400)
    assert sorted(p.name for p in tmp_path.glob("keep2.jsonl*")) == ["keep2.jsonl", "keep2.jsonl.1", "keep2.jsonl.2"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (a real ENOSPC): mounting needs root, which CI and this machine have."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _metric(base: str, name: str) -> float:
    text = requests.get(f"{base}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")
               or line.startswith(name + "{"))


def test_full_disk_drops_whole_lines_counts_them_and_scoring_goes_on(credit_repo: Path, small_disk: Path,
                                                                      tmp_path: Path, payload: dict) -> None:
    audit = small_disk / "audit.jsonl"
    log = tmp_path / "serve.log"
    filler = small_disk / "filler"
    filler.write_bytes(b"x" * (200 * 1024))  # leave ~56 KiB: a few hundred lines, then ENOSPC
    with running_service(credit_repo, workers=2, log_path=log,
                         args=["--audit-log", str(audit), "--poll-interval", "0", "--audit-sample", "1"]) as base:
        with Load(f"{base}/v1/models/credit_risk/predict", payload) as load:
            wait_until(lambda: _metric(base, "scorebridge_audit_dropped_total") >= 50, timeout=60)
            filler.unlink()  # space again: lines resume
            load.wait_for(100)
        assert load.lost == [] and set(load.statuses) == {200}  # scoring never failed
        dropped = _metric(base, "scorebridge_audit_dropped_total")
    ids = audit_ids(audit)  # every line whole: json.loads would fail on a cut one
    assert audit.read_bytes().endswith(b"\n")
    assert len(ids) + dropped == load.total() and dropped >= 50
    assert set(ids) <= set(load.answered)
    text = log.read_text()
    # logged once per worker when writes start failing, and once when they work again (not per line)
    assert 1 <= text.count("cannot write (No space left on device)") <= 2, text[-2000:]
    assert 1 <= text.count("is writable again") <= 2


def test_file_size_limit_is_a_dropped_line_not_a_dead_worker(credit_repo: Path, tmp_path: Path,
                                                            payload: dict) -> None:
    """RLIMIT_FSIZE (ulimit -f): a write past it fails with EFBIG, and SIGXFSZ would end the worker."""
    audit = tmp_path / "audit.jsonl"
    limit = 160 * 1024  # above the metrics files' 64 KiB (prometheus_client's mmap size)
    with running_service(credit_repo, workers=1, file_size_limit=limit,
                         args=["--audit-log", str(audit), "--poll-interval", "0", "--audit-sample", "1"]) as base:
        pids = worker_pids(base)
        with requests.Session() as http:
            for _ in range(400):
                assert http.post(f"{base}/v1/models/credit_risk/predict", json=payload).status_code == 200
        assert worker_pids(base) == pids
        dropped = _metric(base, "scorebridge_audit_dropped_total")
    assert dropped > 0 and len(audit_ids(audit)) + dropped == 400  # whole lines only, the rest counted
    assert limit - 1000 < audit.stat().st_size <= limit
