"""T+1 batch scoring: declared jobs that write Hive-style partitions atomically.

A job file (TOML, see ``docs/batch.md``) names a bundle, an input partition template and an output
table. :func:`batch_jobs.runner.run_job` scores one partition with the local engine (pyarrow + ONNX
Runtime) or the Spark engine, stages it in a hidden directory and renames it into place with
``_SUCCESS`` and ``_RUN.json``; :mod:`batch_jobs.scheduler` runs jobs on their cron triggers.
"""

from batch_jobs.errors import BatchError, JobSpecError, UpstreamNotReadyError
from batch_jobs.spec import JobSpec, load_job

__all__ = ["BatchError", "JobSpec", "JobSpecError", "UpstreamNotReadyError", "load_job"]
