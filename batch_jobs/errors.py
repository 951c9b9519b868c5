"""Errors of the batch jobs; all are :class:`~scorebridge.errors.ScorebridgeError`, so the CLI prints
``scorebridge: error: <one line>`` and exits non-zero."""

from __future__ import annotations

from scorebridge.errors import ScorebridgeError


class BatchError(ScorebridgeError):
    """Base class of the batch jobs' expected failures."""


class JobSpecError(BatchError):
    """A job file is unreadable or invalid; the message names the file and the key."""


class UpstreamNotReadyError(BatchError):
    """The input partition (or its ``_SUCCESS`` marker) did not appear within ``input.wait_timeout``."""


class PartitionBusyError(BatchError):
    """Another run holds the output partition's lock."""


class InputError(BatchError):
    """An input file cannot be read: corrupt pages, a truncated file, an unparsable CSV."""


class OutputError(BatchError):
    """The output cannot be written: a full disk, a read-only filesystem, no permission."""


class HiveError(BatchError):
    """Registering the partition in the Hive table failed; nothing was published."""


class JobCancelledError(BatchError):
    """A run was asked to stop (scheduler shutdown) before it committed; nothing was published."""
