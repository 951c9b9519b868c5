"""What a run hands to its engine."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from batch_jobs.spec import JobSpec
from batch_jobs.summary import ScoreSummary
from scorebridge.bundle import Bundle


@dataclass
class RunContext:
    """One run of one job for one partition.

    Engines read ``input_path``, write data files into ``stage`` (the hidden staging directory),
    feed every scored batch to ``summary`` and stop early when ``cancel`` is set.
    """

    spec: JobSpec
    ds: str
    bundle: Bundle
    input_path: Path
    stage: Path
    summary: ScoreSummary
    cancel: threading.Event = field(default_factory=threading.Event)
    tty: bool | None = None
    on_batch: Callable[[int], None] | None = None  # called with rows scored so far (tests, progress)

    @property
    def label(self) -> str:
        return f"{self.spec.name} dt={self.ds}"
