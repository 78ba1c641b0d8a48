"""Reading JSON input files (compile databases, reports, schedules) with one-line errors."""
from __future__ import annotations

import json

from .errors import QlintError


def read_bytes(path: str, what: str) -> bytes:
    """The file's bytes; a missing or unreadable file is a QlintError naming `what` it is."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise QlintError(f"{path}: {what} not found") from None
    except OSError as e:
        raise QlintError(f"{path}: cannot read {what}: {e.strerror}") from None


def parse_json(raw: bytes, path: str):
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        where = f"line {e.lineno}: " if isinstance(e, json.JSONDecodeError) else ""
        raise QlintError(f"{path}: not valid JSON: {where}{getattr(e, 'msg', e)}") from None
