"""Job files: the issue's example parses, relative paths resolve, and bad files name the key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from batch_jobs.errors import JobSpecError
from batch_jobs.spec import load_job, parse_duration
from batch_jobs.triggers import cron_trigger

from .conftest import job_doc, render_toml, run_cli


def test_issue_example_parses_with_paths_relative_to_the_file(tmp_path, sample_repo, write_job):
    # the model path is relative too: a symlinked repo beside the job file
    (tmp_path / "models").symlink_to(sample_repo)
    spec = load_job(write_job(job_doc("models/credit_risk", input={"wait_timeout": "2h"})))
    assert spec.name == "credit_nightly"
    assert spec.model == str(tmp_path / "models/credit_risk")
    assert spec.engine == "local"
    assert spec.input.partition("2026-11-21") == tmp_path / "warehouse/features/dt=2026-11-21"
    assert spec.input.wait_timeout == 7200.0 and spec.input.wait_for_success is True
    assert spec.output.partition("2026-11-21") == tmp_path / "warehouse/scores/dt=2026-11-21"
    assert spec.output.keep_columns == ("user_id",)
    assert spec.schedule.retries == 2 and spec.schedule.retry_delay == 600.0
    assert spec.state_dir == tmp_path / ".scorebridge"


def test_default_ds_is_today_in_the_job_zone_minus_the_lag(tmp_path, sample_repo, write_job):
    spec = load_job(write_job(job_doc(sample_repo / "credit_risk")))
    # 2026-11-21 20:00 UTC is already 2026-11-22 in Shanghai: T+1 scores 2026-11-21
    moment = datetime(2026, 11, 21, 20, 0, tzinfo=ZoneInfo("UTC"))
    assert spec.schedule.ds_for(moment) == "2026-11-21"
    assert spec.schedule.ds_for(datetime(2026, 11, 21, 15, 0, tzinfo=ZoneInfo("UTC"))) == "2026-11-20"


@pytest.mark.parametrize("tables, key", [
    ({"colour": "blue"}, "colour"),
    ({"input": {"wait_timeuot": "2h"}}, "input.wait_timeuot"),
    ({"schedule": {"cron": "0 25 * * *"}}, "schedule.cron"),
    ({"schedule": {"cron": "0 5 * *"}}, "schedule.cron"),
    ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
    ({"schedule": {"lag_days": -1}}, "schedule.lag_days"),
    ({"schedule": {"retries": "two"}}, "schedule.retries"),
    ({"input": {"wait_timeout": "2 hours"}}, "input.wait_timeout"),
    ({"input": {"format": "orc"}}, "input.format"),
    ({"input": {"path": "features/dt={date}"}}, "input.path"),
    ({"engine": "flink"}, "engine"),
    ({"output": {"keep_columns": "user_id"}}, "output.keep_columns"),
    ({"output": {"hive_table": "db.scores"}}, "output.hive_table"),  # Hive needs the Spark engine
    ({"model": None}, "model"),
    ({"name": "nightly job"}, "name"),
    ({"local": {"runtime": "native"}}, "local.runtime"),  # unpickling needs explicit trust
    ({"local": {"runtime": "tensorflow"}}, "local.runtime"),
    ({"local": {"threads": 0}}, "local.threads"),
])
def test_bad_job_file_names_the_key(sample_repo, write_job, tables, key):
    path = write_job(job_doc(sample_repo / "credit_risk", **tables))
    with pytest.raises(JobSpecError) as err:
        load_job(path)
    assert f"{path}: {key}: " in str(err.value)


def test_model_that_does_not_resolve_names_the_key(tmp_path, write_job, sample_repo):
    path = write_job(job_doc("models/no_such_model"))
    with pytest.raises(JobSpecError, match=r"job\.toml: model: no bundle at .*no_such_model"):
        load_job(path)
    path = write_job(job_doc(f"{sample_repo}/credit_risk@99"))
    with pytest.raises(JobSpecError, match="model: model 'credit_risk' has no version '99'"):
        load_job(path)


def test_unreadable_files(tmp_path):
    with pytest.raises(JobSpecError, match="does not exist"):
        load_job(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(JobSpecError, match="not valid TOML"):
        load_job(bad)


def test_cli_reports_a_bad_job_in_one_line(sample_repo, write_job, tmp_path):
    path = write_job(job_doc(sample_repo / "credit_risk", schedule={"cron": "0 5 * * mon-fry"}))
    proc = run_cli("batch", "run", str(path), cwd=tmp_path)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"scorebridge: error: {path}: schedule.cron: invalid cron expression")
    assert not (tmp_path / "warehouse").exists()


def test_durations():
    assert parse_duration("1h30m", "k", Path("j")) == 5400
    assert parse_duration("250ms", "k", Path("j")) == 0.25
    assert parse_duration(90, "k", Path("j")) == 90
    with pytest.raises(JobSpecError, match="k: cannot read duration"):
        parse_duration("soon", "k", Path("j"))


def test_crontab_weekdays_count_from_sunday():
    tz = ZoneInfo("UTC")
    sunday = datetime(2026, 11, 22, 6, 0, tzinfo=tz)  # a Sunday, after 05:00
    weekdays = cron_trigger("0 5 * * 1-5", tz)  # crontab: Monday to Friday
    assert weekdays.get_next_fire_time(None, sunday) == datetime(2026, 11, 23, 5, 0, tzinfo=tz)
    sundays = cron_trigger("0 5 * * 0", tz)
    assert sundays.get_next_fire_time(None, sunday) == datetime(2026, 11, 29, 5, 0, tzinfo=tz)
    every_second = cron_trigger("* * * * * *", tz)
    assert every_second.get_next_fire_time(None, sunday.replace(microsecond=500)).second == 1


def test_render_helper_round_trips(tmp_path):
    text = render_toml(job_doc("m", spark={"conf": {"spark.sql.shuffle.partitions": 2}}))
    assert '[spark.conf]\n"spark.sql.shuffle.partitions" = 2' in text


def test_schedule_table_is_optional_but_needs_cron(sample_repo, write_job):
    spec = load_job(write_job(job_doc(sample_repo / "credit_risk", schedule=None)))
    assert spec.schedule.cron is None and spec.schedule.lag_days == 1 and spec.schedule.timezone == "UTC"
    doc = job_doc(sample_repo / "credit_risk")
    del doc["schedule"]["cron"]
    with pytest.raises(JobSpecError, match=r"job\.toml: schedule\.cron: required key is missing"):
        load_job(write_job(doc))
