"""The console's three pages in headless Chromium against the real service: the tables hold the expected
rows, every plot drew the number of points or bars its JSON twin holds, and the console stays clean."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.web_console.conftest import FAILED_NIGHT, NIGHTS


def api(console: str, path: str) -> dict:
    response = requests.get(f"{console}/ui/api/{path}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def cells(locator) -> list[str]:
    return [text.strip() for text in locator.all_inner_texts()]


def test_models_overview(console, page):
    p = page.open(f"{console}/ui/", "overview")
    assert [r.get_attribute("data-model") for r in p.locator("#models tbody tr").all()] == [
        "credit_risk", "diabetes_progression", "html_categories", "wine_class"]
    credit = cells(p.locator('#models tr[data-model="credit_risk"] td'))
    name, task, live, versions, refused, artifacts, fidelity, runs = credit
    assert (name, task, live, versions) == ("credit_risk", "classification", "1", "1, 2")
    assert refused.startswith("2: BundleIntegrityError: credit_risk/2/model.onnx: sha256 mismatch")
    assert artifacts == "native, pmml, onnx, xgboost_preprocess, xgboost_booster"
    assert "pmml pass" in fidelity and "onnx pass" in fidelity and "xgboost pass" in fidelity
    assert "pypmml reported" in fidelity
    # the last nightly run of the job scoring it: the failed night (no rows, no PSI)
    assert runs == f"credit_nightly: failed dt={FAILED_NIGHT}, – rows, PSI –"
    assert cells(p.locator('#models tr[data-model="wine_class"] td'))[2:4] == ["2", "1, 2"]
    assert cells(p.locator('#jobs tr[data-job="credit_nightly"] td')) == [
        "credit_nightly", "credit_risk", "failed", FAILED_NIGHT, "–", "–"]
    assert page.errors == []


def test_model_page_scatter_and_differences(console, console_repo: Path, page):
    data = api(console, "models/credit_risk")
    manifest = json.loads((console_repo / "credit_risk" / "1" / "manifest.json").read_text())
    p = page.open(f"{console}/ui/models/credit_risk", "model")
    assert [r.get_attribute("data-version") for r in p.locator("#versions tbody tr").all()] == ["2", "1"]
    assert cells(p.locator("#versions tbody tr td:nth-child(2) .status")) == ["refused", "live"]
    assert cells(p.locator('#versions tr[data-version="1"] td'))[2] == manifest["created_at"]
    fidelity = [r.get_attribute("data-artifact") for r in p.locator("#fidelity tbody tr").all()]
    assert fidelity == list(manifest["fidelity"])
    assert [r.get_attribute("data-input") for r in p.locator("#schema tbody tr").all()] == [
        f["name"] for f in manifest["inputs"]]
    region = next(f for f in manifest["inputs"] if f["name"] == "region")
    assert cells(p.locator('#schema tr[data-input="region"] .category')) == region["categories"]

    rows = manifest["fidelity"]["onnx"]["rows"]
    evaluators = data["scatter"]["evaluators"]
    assert [e["evaluator"] for e in evaluators] == ["pmml", "onnx", "xgboost", "pypmml"]
    for i, e in enumerate(evaluators):
        points = [pt for pt in e["points"] if pt["native"] is not None]
        assert len(points) == rows  # a binary classifier: one point per verification row (probability_1)
        scatter = f'[data-plot="scatter"][data-index="{i}"] g[aria-label="dot"] circle'
        assert page.count(scatter) == rows
        # rows with a missing value / an unseen category are drawn in their own colour
        flagged = {flag: sum(pt["flag"] == flag for pt in points) for flag in ("missing value", "unseen category")}
        assert flagged["missing value"] >= 7 and flagged["unseen category"] >= 1
        strokes = p.eval_on_selector_all(scatter, "els => els.map(e => e.getAttribute('stroke'))")
        assert sorted(strokes.count(c) for c in set(strokes)) == sorted(
            [rows - sum(flagged.values()), *flagged.values()])
        bars = page.count(f'[data-plot="diff"][data-index="{i}"] g[aria-label="rect"] rect')
        assert bars == len(e["histogram"]) == 20
        assert sum(b["count"] for b in e["histogram"]) == rows
        # the table under the plots lists where it differs most: its largest difference is the report's
        largest = p.locator(f'#largest tr[data-evaluator="{e["evaluator"]}"] td:last-child').all_inner_texts()
        assert len(largest) == 5
        assert abs(float(largest[0])) == float(f'{manifest["fidelity"][e["evaluator"]]["max_abs_diff"]:.3g}')
    assert page.errors == []


def test_model_without_fidelity_rows_shows_the_table_and_says_why(console, page):
    p = page.open(f"{console}/ui/models/wine_class", "model-old-bundle")
    assert "re-export it" in p.locator("#scatter-unavailable").inner_text()
    assert page.count("[data-plot] svg") == 0 and page.count("#fidelity tbody tr") == 3
    p = page.open(f"{console}/ui/models/wine_class?version=1", "model-v1")
    # a multiclass model: one point per verification row and class
    data = api(console, "models/wine_class?version=1")
    classes = len(data["classes"])
    assert classes == 3 and data["scatter"]["columns"] == [f"probability_{c}" for c in data["classes"]]
    rows = data["versions"][-1]["fidelity"][0]["rows"]
    assert page.count('[data-plot="scatter"][data-index="0"] g[aria-label="dot"] circle') == rows * classes
    assert page.errors == []


def test_job_page(console, page):
    data = api(console, "jobs/credit_nightly")
    p = page.open(f"{console}/ui/jobs/credit_nightly", "job")
    assert cells(p.locator("#runs tbody tr td:first-child")) == [FAILED_NIGHT, *reversed(NIGHTS)]
    assert cells(p.locator("#runs tbody tr td:nth-child(4)")) == ["failed", "success", "success", "success"]
    assert cells(p.locator("#runs tbody tr td:nth-child(7)")) == ["–", "500", "400", "300"]
    assert page.count('[data-plot="grid"] g[aria-label="cell"] rect') == 4
    assert page.count('[data-plot="psi"] g[aria-label="dot"] circle') == 3
    assert page.count('[data-plot="psi"] g[aria-label="rule"] line') == 2  # the 0.1 and 0.25 lines
    assert page.count('[data-plot="rows"] g[aria-label="bar"] rect') == 3
    assert page.count('[data-plot="duration"] g[aria-label="dot"] circle') == 4
    (histogram,) = data["histograms"]
    assert histogram["column"] == "probability_1" and len(histogram["bins"]) == 10
    assert page.count('[data-plot="histogram"] g[aria-label="bar"] rect') == 2 * len(histogram["bins"])
    assert [r["psi"] is not None for r in data["runs"]] == [False, True, True, True]
    assert page.errors == []
