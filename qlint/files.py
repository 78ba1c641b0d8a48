"""Reading the files qlint analyses, which may be anything a directory holds, and writing
what it produces (reports, cache entries) whole."""
from __future__ import annotations

import errno
import os
import stat
import sys

from .errors import QlintError


def read_regular(path: str, limit: int = -1) -> bytes:
    """The bytes of a regular file (the first `limit` if given); OSError for anything else.
    Opened without blocking: a FIFO named like a source would wait for a writer forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return f.read(limit)


def write_whole(path: str, data: bytes, mode: int = 0o666) -> None:
    """Write `data` to `path` so that a reader finds the old file or the new one, never half
    of it: into a temporary file beside it (created with `mode`, less the umask), renamed over
    it. A path that exists and is not a regular file (/dev/null, a FIFO) is written to as it
    is. OSError when it fails; the temporary file is gone either way."""
    if os.path.exists(path) and not os.path.isfile(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_output(text: str, path: str | None, what: str = "report") -> None:
    """Write a report (or baseline, schedule, picture) to stdout, or whole to `path`; a
    failure is a one-line error naming the file and what was written."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        write_whole(path, text.encode("utf-8"))
    except OSError as e:
        raise QlintError(f"{path}: cannot write {what}: {e.strerror}") from None
