"""Reading the files qlint analyses, which may be anything a directory holds."""
from __future__ import annotations

import errno
import os
import stat


def read_regular(path: str, limit: int = -1) -> bytes:
    """The bytes of a regular file (the first `limit` if given); OSError for anything else.
    Opened without blocking: a FIFO named like a source would wait for a writer forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return f.read(limit)
