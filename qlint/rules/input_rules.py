"""QL000 parse-error: a translation unit that clang parsed only in part, or not at all, is a
finding of its own (ruff reports syntax errors as diagnostics too), at its first error: what the
other rules found in it may be incomplete, so a run over a misconfigured build cannot pass.
A fatal error (a missing header) ends clang's diagnostics, not its parse: such a TU is analysed
in part, as far as clang got."""
from __future__ import annotations

import os

from ..report.model import Finding, Related
from .base import Rule

PARSE_ERROR = "QL000"


class ParseError(Rule):
    code = PARSE_ERROR
    name = "parse-error"
    summary = "a translation unit was analysed only in part (parse errors), or not at all"
    level = "error"
    tags = ("input",)
    precision = "very-high"
    messages = {
        "failed": "{what} is not analysed: {problem}",
        "fatal": "{error} (a fatal error, after which clang reports nothing: {what} is "
                 "analysed only in part)",
        "errors": "{error} ({count} parse error(s): {what} is analysed only in part)",
    }

    def about_input(self, ctx) -> list[Finding]:
        return [self.parse_finding(tu) for tu in ctx.program.tus if tu.problem or tu.errors]

    def parse_finding(self, tu) -> Finding:
        first = tu.errors[0]
        unit = os.path.basename(tu.path)
        where = first.file or tu.path
        what = "the translation unit" if where == tu.path else f"translation unit {unit}"
        kind = "failed" if tu.problem else \
            "fatal" if any(d.severity == "fatal" for d in tu.errors) else "errors"
        related = [] if where == tu.path else [Related(tu.path, 1, "the translation unit")]
        return self.finding(kind, None, (where, max(first.line, 1), max(first.col, 1), ""),
                            detail=f"{unit}|{first.message}", trace=[], related=related,
                            unit=tu.path, what=what, problem=tu.problem, error=first.message,
                            count=len(tu.errors))
