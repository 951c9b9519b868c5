"""Cron expressions -> APScheduler triggers (the swappable trigger part of the scheduler).

Job files use crontab syntax: five fields (minute hour day month weekday, weekday 0 or 7 = Sunday as
in crontab), or six with a leading seconds field. APScheduler 3 numbers weekdays from Monday = 0, so
numeric weekdays are translated to names here rather than passed through.
"""

from __future__ import annotations

from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_DOW_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _crontab_weekdays(field: str) -> str:
    """Translate a crontab weekday field (0/7 = Sunday) to APScheduler weekday names."""
    out = []
    for token in field.split(","):
        body, _, step_text = token.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad weekday step in {token!r}")
        if body == "*":
            if not step_text:
                return "*"
            lo, hi = 0, 6
        elif body.replace("-", "").isdigit():
            lo_text, _, hi_text = body.partition("-")
            lo = int(lo_text)
            hi = int(hi_text) if hi_text else (6 if step_text else lo)
            if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi):
                raise ValueError(f"weekday {token!r} out of range 0-7")
        else:  # names (mon-fri) mean the same in both conventions
            out.append(token)
            continue
        out.extend(_DOW_NAMES[d] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


def cron_trigger(expr: str, timezone: tzinfo) -> CronTrigger:
    """A :class:`CronTrigger` for a 5-field crontab expression, or 6 fields with seconds first.

    Raises ``ValueError`` with APScheduler's reason for an invalid expression.
    """
    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"expected 5 fields (minute hour day month weekday) or 6 with seconds first, "
                         f"got {len(fields)}")
    second, minute, hour, day, month, dow = fields
    return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_weekdays(dow), timezone=timezone)
