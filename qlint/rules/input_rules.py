"""QL000 parse-error: a translation unit that clang parsed only in part, or not at all, is a
finding of its own (ruff reports syntax errors as diagnostics too), at its first error: what the
other rules found in it may be incomplete, so a run over a misconfigured build cannot pass.
A fatal error (a missing header) ends clang's diagnostics, not its parse: such a TU is analysed
in part, as far as clang got."""
from __future__ import annotations

import os

from ..report.model import Finding, Related
from .registry import Rule, rule

PARSE_ERROR = "QL000"


@rule
class ParseError(Rule):
    code = PARSE_ERROR
    name = "parse-error"
    summary = "a translation unit was analysed only in part (parse errors), or not at all"
    level = "error"
    tags = ("input",)
    precision = "very-high"

    def check(self, ctx):
        for tu in ctx.program.tus:
            if tu.problem or tu.errors:
                yield self.finding(tu)

    def finding(self, tu) -> Finding:
        first = tu.errors[0]
        unit = os.path.basename(tu.path)
        where = first.file or tu.path
        what = "the translation unit" if where == tu.path else f"translation unit {unit}"
        if tu.problem:
            message = f"{what} is not analysed: {tu.problem}"
        elif any(d.severity == "fatal" for d in tu.errors):
            message = (f"{first.message} (a fatal error, after which clang reports nothing: "
                       f"{what} is analysed only in part)")
        else:
            message = (f"{first.message} ({len(tu.errors)} parse error(s): {what} is analysed "
                       f"only in part)")
        related = [] if where == tu.path else [Related(tu.path, 1, "the translation unit")]
        return Finding(rule=self.code, name=self.name, path=where,
                       line=max(first.line, 1), column=max(first.col, 1), function="",
                       message=message, detail=f"{unit}|{first.message}", related=related,
                       level=self.level, unit=tu.path)
