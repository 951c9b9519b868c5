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
    """Another run holds the output table's lock."""


class JobCancelledError(BatchError):
    """A run was asked to stop (scheduler shutdown) before it committed; nothing was published."""
