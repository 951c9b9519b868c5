"""The console's Flask blueprint: HTML pages at ``/ui/...`` and their JSON twins at ``/ui/api/...``.

Read-only: pages render the registry's snapshot, the bundles' manifests and the batch jobs' histories
(server-side tables, autoescaped by Jinja: model, field, category and job names come from files users
write). The browser draws the plots from the JSON twin with Observable Plot, served from
``static/vendor/`` (``scripts/bootstrap.sh`` copies it there from npm); without it, or with JavaScript
off, the tables are the page.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, render_template, request, url_for

from scorebridge.errors import ScorebridgeError
from scoring_service.codec import json_response
from scoring_service.errors import ApiError
from web_console import jobs as job_data
from web_console import models as model_data

if TYPE_CHECKING:
    from scoring_service.app import Service

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = ("vendor/d3.min.js", "vendor/plot.umd.min.js")  # npm's d3 and @observablehq/plot (package.json)
COOKIE = "scorebridge_ui"
# scripts from this server only; Plot sets inline styles on the SVG it draws
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


def plots_available() -> bool:
    """Whether the charting library was installed into the package (``scripts/bootstrap.sh``)."""
    return all((STATIC / name).is_file() for name in VENDOR)


class Console:
    """What the pages read: the service's registry and the jobs directory."""

    def __init__(self, service: Service) -> None:
        self.registry = service.registry
        self.jobs_dir = service.config.jobs

    def jobs(self) -> dict[str, job_data.Job]:
        return job_data.read_jobs(self.jobs_dir)

    def overview(self) -> dict[str, Any]:
        """The models page's data: every model, and every job with its last run."""
        jobs, by_model = [], {}
        for job in self.jobs().values():
            last, error = None, job.error
            if job.spec is not None:
                try:
                    last = job_data.last_run(job.spec)
                except ScorebridgeError as exc:  # an unreadable history: this job's row says so, the page stays
                    error = job_data.public_text(str(exc))
            entry = {"job": job.name, "model": job.model, "error": error, "last_run": last}
            jobs.append(entry)
            if job.model is not None:
                by_model.setdefault(job.model, []).append({"job": job.name, "last_run": last})
        return {"models": model_data.overview(self.registry, by_model), "jobs": jobs}

    def model(self, name: str, version: str | None) -> dict[str, Any]:
        page = model_data.model_page(self.registry, name, version)
        if page is None:
            raise ApiError(404, "model_not_found", f"no model {name!r} in the repository", field="name")
        if "missing_version" in page:
            raise ApiError(404, "version_not_found", f"model {name!r} has no version {page['missing_version']!r}; "
                                                     f"on disk: {', '.join(page['versions'])}", field="version")
        page["jobs"] = [j.name for j in self.jobs().values() if j.model == name]
        return page

    def job(self, name: str) -> dict[str, Any]:
        job = self.jobs().get(name)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {name!r} in the jobs directory", field="job")
        if job.spec is None:
            return {"job": name, "error": job.error, "runs": [], "histograms": []}
        spec = job.spec
        try:
            runs, latest = job_data.runs(spec)
        except ScorebridgeError as exc:
            return {"job": name, "error": job_data.public_text(str(exc)), "runs": [], "histograms": []}
        return {"job": name, "model": job.model, "engine": spec.engine, "error": None,
                "schedule": {"cron": spec.schedule.cron, "timezone": spec.schedule.timezone,
                             "lag_days": spec.schedule.lag_days},
                "runs": runs, "latest": ({"ds": latest["ds"], "model": latest.get("model", {}).get("version")}
                                         if latest else None),
                "histograms": job_data.score_histograms(latest)}


def console_blueprint(service: Service) -> Blueprint:
    """The console at ``/ui/`` (``ui_token`` set: each request needs it, see :func:`_authorise`)."""
    bp = Blueprint("console", __name__, url_prefix="/ui", template_folder="templates",
                   static_folder="static", static_url_path="/static")
    console = Console(service)
    token = service.config.ui_token

    @bp.before_request
    def authorise() -> Response | None:
        return _authorise(token)

    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def page(template: str, api: str, data: dict[str, Any], **extra: Any) -> str:
        return render_template(f"console/{template}", data=data, api=api, plots=plots_available(), **extra)

    @bp.get("/")
    def index() -> str:
        return page("overview.html", url_for(".api_models"), console.overview())

    @bp.get("/models/<name>")
    def model(name: str) -> str:
        version = request.args.get("version") or None
        api = url_for(".api_model", name=name) + (f"?{urlencode({'version': version})}" if version else "")
        return page("model.html", api, console.model(name, version))

    @bp.get("/jobs/<name>")
    def job(name: str) -> str:
        return page("job.html", url_for(".api_job", name=name), console.job(name))

    @bp.get("/api/models")
    def api_models() -> Response:
        return json_response(console.overview())

    @bp.get("/api/models/<name>")
    def api_model(name: str) -> Response:
        return json_response(console.model(name, request.args.get("version") or None))

    @bp.get("/api/jobs/<name>")
    def api_job(name: str) -> Response:
        return json_response(console.job(name))

    return bp


def _authorise(token: str | None) -> Response | None:
    """Let a request through when there is no token, or it carries it: as ``Authorization: Bearer``,
    as the cookie a first ``?token=`` visit sets (a browser cannot send the header), or as that query."""
    if token is None:
        return None
    supplied = request.args.get("token")
    if supplied is not None and hmac.compare_digest(supplied.encode(), token.encode()):
        # keep the token out of the address bar, the history and later links: a cookie carries it on
        args = {k: v for k, v in request.args.items() if k != "token"}
        response = redirect(request.path + (f"?{urlencode(args)}" if args else ""), code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/ui")
        return response
    header = request.headers.get("Authorization", "")
    candidate = header[7:] if header.startswith("Bearer ") else request.cookies.get(COOKIE, "")
    if candidate and hmac.compare_digest(candidate.encode(), token.encode()):
        return None
    if supplied is not None or candidate:
        raise ApiError(403, "forbidden", "the console token does not match")
    raise ApiError(401, "unauthorized", "the console needs its token: open /ui/?token=<token> once in the browser, "
                                        "or send 'Authorization: Bearer <token>'")
