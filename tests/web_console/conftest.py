"""Fixtures for the web console: a repository with live, refused and pre-fidelity-rows versions, a batch
job with three nightly runs (and a failed one), the real service, and one headless Chromium per module."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from batch_jobs.demo import write_job, write_sample_partition
from batch_jobs.runner import run_job
from batch_jobs.spec import load_job
from scorebridge.bundle import Bundle
from scorebridge.errors import ScorebridgeError
from scoring_service.testing import running_service

NIGHTS = ("2026-11-19", "2026-11-20", "2026-11-21")
FAILED_NIGHT = "2026-11-22"  # no input partition: a failed run whose message names an absolute path
# category names a user may write: the console must show them as text, never run them
HOSTILE = ("<script>window.__pwned = 1</script>", "\"><img src=x onerror=\"window.__pwned = 2\">", "plain")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _hostile_model(repo: Path) -> None:
    """A small logistic regression whose categorical input's categories are HTML."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from exporters import export_bundle

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"colour": rng.choice(HOSTILE, 300), "x": rng.normal(size=300)})
    y = ((frame["colour"] == HOSTILE[0]) ^ (frame["x"] > 0)).astype(int)
    pipeline = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["colour"]),
                                                     ("num", "passthrough", ["x"])])),
                         ("model", LogisticRegression())]).fit(frame, y)
    export_bundle(pipeline, frame, name="html_categories", repo=repo)


@pytest.fixture(scope="session")
def console_repo(sample_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample models, plus: credit_risk 2 (refused: its ONNX changed after export), wine_class 2 (a
    bundle from before fidelity_rows.parquet: no scatter), and html_categories (HTML in its categories)."""
    repo = tmp_path_factory.mktemp("console") / "models"
    shutil.copytree(sample_repo, repo)
    for name, version in (("credit_risk", "2"), ("wine_class", "2")):
        dest = repo / name / version
        shutil.copytree(repo / name / "1", dest)
        manifest = json.loads((dest / "manifest.json").read_text())
        manifest["version"] = version
        if name == "wine_class":
            (dest / manifest.pop("fidelity_rows")["file"]).unlink()
        (dest / "manifest.json").write_text(json.dumps(manifest))
    with open(repo / "credit_risk" / "2" / "model.onnx", "ab") as fh:
        fh.write(b"tampered")
    _hostile_model(repo)
    return repo


@pytest.fixture(scope="session")
def jobs_dir(console_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``credit_nightly.toml`` with three nightly runs (300, 400 and 500 rows), then one failed night."""
    jobs = tmp_path_factory.mktemp("jobs")
    bundle = Bundle.load(console_repo / "credit_risk" / "1", verify=False)
    spec = load_job(write_job(jobs, console_repo / "credit_risk" / "1", wait_timeout="0s"))
    for i, ds in enumerate(NIGHTS):
        write_sample_partition(bundle, jobs / "warehouse" / "features" / f"dt={ds}", 300 + 100 * i, seed=i)
        run_job(spec, ds, trigger="schedule", tty=False)
    with pytest.raises(ScorebridgeError):
        run_job(spec, FAILED_NIGHT, trigger="schedule", tty=False)
    return jobs


@pytest.fixture(scope="module")
def console(console_repo: Path, jobs_dir: Path) -> Iterator[str]:
    """The real scoring service (console on, the default) over the repository and the jobs."""
    with running_service(console_repo, engine="auto", args=["--jobs", str(jobs_dir), "--poll-interval", "0",
                                                             "--audit-log", "off"]) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Debian Chromium for the module (the network is closed: no browser download)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run scripts/bootstrap.sh test")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: object, tmp_path: Path, **context: object) -> None:
        self.context = browser.new_context(**context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.tmp_path = tmp_path
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self, url: str, shot: str, *, plotted: bool = True) -> object:
        """Load ``url``; wait for the plots when ``plotted``; save a screenshot ``<shot>.png``."""
        self.page.goto(url)
        if plotted:
            self.page.wait_for_selector("body[data-plotted]", timeout=20_000)
        self.page.screenshot(path=str(self.tmp_path / f"{shot}.png"), full_page=True)
        return self.page

    def count(self, selector: str) -> int:
        return self.page.locator(selector).count()


@pytest.fixture
def page(browser: object, tmp_path: Path) -> Iterator[Page]:
    p = Page(browser, tmp_path)
    yield p
    p.context.close()
