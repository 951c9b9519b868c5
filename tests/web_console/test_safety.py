"""Safe by default: names from users' files are text, pages work without JavaScript, no absolute path is
shown, ``--no-ui`` removes the console and ``--ui-token`` guards it (the scoring API keeps its own rules)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from scoring_service.testing import free_port, running_service
from tests.web_console.conftest import HOSTILE, Page

PAGES = ("", "models/credit_risk", "models/credit_risk?version=2", "models/html_categories", "models/wine_class",
         "jobs/credit_nightly")


def test_html_in_category_names_is_shown_not_run(console, page):
    for url, shot in ((f"{console}/ui/", "overview"), (f"{console}/ui/models/html_categories", "hostile")):
        p = page.open(url, shot)
        assert p.evaluate("window.__pwned") is None
        assert page.count("main script, main img") == 0
    shown = [t.strip() for t in p.locator('#schema tr[data-input="colour"] .category').all_inner_texts()]
    assert shown == sorted(HOSTILE)
    html = requests.get(f"{console}/ui/models/html_categories", timeout=30).text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html and "<script>window" not in html
    assert page.count('[data-plot="scatter"] g[aria-label="dot"] circle') > 0  # its plots still draw
    assert page.errors == []


def test_pages_without_javascript_show_their_tables(console, browser, tmp_path):
    off = Page(browser, tmp_path, java_script_enabled=False)
    try:
        p = off.open(f"{console}/ui/", "overview-nojs", plotted=False)
        assert off.count("#models tbody tr") == 4 and off.count("#jobs tbody tr") == 1
        p = off.open(f"{console}/ui/models/credit_risk", "model-nojs", plotted=False)
        assert off.count("#versions tbody tr") == 2 and off.count("#fidelity tbody tr") == 4
        assert off.count("#schema tbody tr") == 7 and off.count("svg") == 0
        assert off.count("#largest tbody tr") == 4 * 5  # where each of the four evaluators differs most
        assert "JavaScript is off" in p.locator("main").inner_text()
        off.open(f"{console}/ui/jobs/credit_nightly", "job-nojs", plotted=False)
        assert off.count("#runs tbody tr") == 4 and off.count("table.histogram tbody tr") == 10
    finally:
        off.context.close()


def test_no_absolute_path_on_any_page(console, console_repo: Path, jobs_dir: Path):
    roots = {str(p) for p in (console_repo, jobs_dir, console_repo.resolve(), jobs_dir.resolve(), Path.home())}
    roots |= {os.path.commonpath([str(console_repo), str(jobs_dir)])}
    for path in PAGES:
        for url in (f"{console}/ui/{path}", f"{console}/ui/api/{path or 'models'}"):
            text = requests.get(url, timeout=30).text
            assert not [root for root in roots if root in text], url
            assert not re.search(r"/tmp/|/home/|/root/", text), url
    job = requests.get(f"{console}/ui/api/jobs/credit_nightly", timeout=30).json()
    # the failed night's message names its missing partition by its last component only
    assert "…/dt=2026-11-22 does not exist" in job["runs"][0]["message"]


def test_json_twins_and_errors(console):
    models = requests.get(f"{console}/ui/api/models", timeout=30).json()
    assert [m["name"] for m in models["models"]] == ["credit_risk", "diabetes_progression", "html_categories",
                                                     "wine_class"]
    missing = requests.get(f"{console}/ui/models/nope", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "name"
    version = requests.get(f"{console}/ui/api/models/credit_risk?version=7", timeout=30)
    assert version.status_code == 404 and version.json()["error"]["code"] == "version_not_found"
    assert requests.get(f"{console}/ui/jobs/nope", timeout=30).json()["error"]["code"] == "job_not_found"
    page = requests.get(f"{console}/ui/", timeout=30)
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_no_ui_turns_the_console_off(console_repo: Path):
    with running_service(console_repo, engine="auto", args=["--no-ui", "--poll-interval", "0",
                                                            "--audit-log", "off"]) as base:
        for path in ("/ui/", "/ui/api/models", "/ui/static/console.js"):
            assert requests.get(base + path, timeout=30).status_code == 404, path
        assert requests.get(base + "/v1/models", timeout=30).status_code == 200


def test_ui_token(console_repo: Path, jobs_dir: Path, browser, tmp_path):
    token = "s3cret-console-token"
    with running_service(console_repo, engine="auto", args=["--poll-interval", "0", "--audit-log", "off",
                                                            "--jobs", str(jobs_dir)],
                         env={"SCOREBRIDGE_UI_TOKEN": token}) as base:
        anonymous = requests.get(base + "/ui/api/models", timeout=30)
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "unauthorized"
        assert token not in anonymous.text
        wrong = requests.get(base + "/ui/", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 403
        bearer = requests.get(base + "/ui/api/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert bearer.status_code == 200 and len(bearer.json()["models"]) == 4
        assert requests.get(base + "/v1/models", timeout=30).status_code == 200  # the scoring API is not gated
        visitor = Page(browser, tmp_path)
        try:
            p = visitor.open(f"{base}/ui/?token={token}", "token")
            assert p.url == f"{base}/ui/"  # the token left the address bar for an HttpOnly cookie
            visitor.open(f"{base}/ui/jobs/credit_nightly", "token-job")
            assert visitor.count('[data-plot="psi"] g[aria-label="dot"] circle') == 3
            assert visitor.errors == []
        finally:
            visitor.context.close()


def test_console_alone(console_repo: Path, jobs_dir: Path):
    """``scorebridge console``: the console and the health checks, no scoring API."""
    port = free_port()
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "scorebridge", "console", "--repo", str(console_repo), "--jobs",
                             str(jobs_dir), "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if requests.get(base + "/readyz", timeout=2).status_code in (200, 503):
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "scorebridge console did not start"
            time.sleep(0.2)
        assert requests.get(base + "/ui/", timeout=30).status_code == 200
        job = requests.get(base + "/ui/api/jobs/credit_nightly", timeout=30).json()
        assert [r["rows"] for r in job["runs"]] == [None, 500, 400, 300]
        assert requests.get(base + "/v1/models", timeout=30).status_code == 404
        assert requests.post(base + "/v1/models/credit_risk/predict", json={"records": []},
                             timeout=30).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_without_the_charting_library_the_tables_remain(console_repo: Path, jobs_dir: Path, tmp_path, monkeypatch):
    """A pip install without npm: no vendor/ files, so no scripts; the page says how to get the plots."""
    from scoring_service.app import create_app
    from web_console import blueprint

    monkeypatch.setattr(blueprint, "STATIC", tmp_path)  # an install whose static/vendor/ is empty
    app = create_app({"repo": console_repo, "jobs": jobs_dir, "audit_log": None, "poll_interval": 0})
    client = app.test_client()
    for path in ("/ui/", "/ui/models/credit_risk", "/ui/jobs/credit_nightly"):
        html = client.get(path).get_data(as_text=True)
        assert "<script" not in html and "scripts/bootstrap.sh" in html, path
    assert client.get("/ui/models/credit_risk").get_data(as_text=True).count('<tr data-input="') == 7


def test_console_bad_options_fail_in_one_line(console_repo: Path, tmp_path):
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    cases = ((["--repo", str(tmp_path / "nowhere")], "does not exist"),
             (["--repo", str(console_repo), "--jobs", str(tmp_path / "no-jobs")], "is not a directory"))
    for args, reason in cases:
        proc = subprocess.run([sys.executable, "-m", "scorebridge", "console", *args, "--port", str(free_port())],
                              env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("scorebridge: error: ") and reason in lines[0], proc.stderr
