"""Errors that end a run with a one-line message.

Anything the user can cause (bad paths, a broken compile database, malformed configuration) is a
QlintError: the CLI prints `qlint: error: <message>` and exits with `code`, never a traceback.
"""
from __future__ import annotations

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class QlintError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message
