"""One-line reasons for the failures a run meets outside its own code.

Arrow, the OS and Spark describe a corrupt file, a full disk or a read-only mount in multi-line,
sometimes binary-laden messages; these helpers turn them into the one line the CLI prints and the
run history keeps, naming the file or partition and what was (not) published.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from batch_jobs.errors import InputError, OutputError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_OS_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EIO: "input/output error",
}


def one_line(text: object) -> str:
    """``text`` on one line: lines joined with ``; ``, control characters dropped, spaces collapsed."""
    lines = [" ".join(_CONTROL.sub(" ", line).split()) for line in str(text).splitlines()]
    return "; ".join(line.rstrip(".") for line in lines if line) or type(text).__name__


def unreadable_input(path: str | os.PathLike[str], exc: BaseException) -> InputError:
    """The error for an input file that cannot be decoded (corrupt pages, truncated, unparsable)."""
    return InputError(f"cannot read input {os.fspath(path)}: {one_line(exc)} (corrupt or truncated file?); "
                      "nothing was published")


def unwritable_output(partition: Path, exc: OSError) -> OutputError:
    """The error for an output that cannot be written (``exc`` from creating, writing or renaming it)."""
    reason = _OS_REASONS.get(exc.errno or 0) or one_line(exc.strerror or exc)
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != partition else ""
    if exc.errno == errno.EROFS:
        return OutputError(f"cannot write {partition}: the output is on a read-only file system{where}; "
                           "nothing was written")
    return OutputError(f"cannot write {partition}: {reason}{where}; nothing was published "
                       "(the staging directory was removed)")
