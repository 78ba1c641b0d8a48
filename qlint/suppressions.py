"""Inline suppressions, read from the source text when the report is made:

    qemu_laio_process_completions(s);   /* qlint: ignore[QL101] drained under the BQL here */

A suppression names the rules it silences and covers the line(s) of its comment and the line
after, so it can stand at the end of the finding's line or on the line above it (QEMU's
checkpatch rejects `//` comments; they work too). Only a finding's own line counts, not the steps
of its path. A suppression without a known rule code silences nothing and is reported (QL001);
with --report-unused-suppressions, so is one that silenced nothing (QL002).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .files import read_regular
from .report.model import Finding, finalize
from .rules.registry import all_rules

# C string and character literals are matched only so that a comment opener inside one is skipped.
TOKENS = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', re.S)
DIRECTIVE = re.compile(r"qlint:\s*ignore\b(?:\[([^\]]*)\])?")
INVALID, UNUSED = "QL001", "QL002"


@dataclass
class Suppression:
    path: str
    line: int                  # the line of the directive
    column: int
    last: int                  # the last line it covers: the one after the comment
    codes: tuple
    unknown: tuple
    used: set = field(default_factory=set)

    def covers(self, finding: Finding) -> bool:
        return self.line <= finding.line <= self.last and finding.rule in self.codes


def scan(path: str, text: str, known) -> list[Suppression]:
    """The suppressions in the comments of one source file."""
    found = []
    if "qlint:" not in text:
        return found              # most files: no need to tokenize them
    for token in TOKENS.finditer(text):
        comment = token.group()
        if not comment.startswith("/"):
            continue
        directive = DIRECTIVE.search(comment)
        if directive is None:
            continue
        start = token.start() + directive.start()
        line = text.count("\n", 0, start) + 1
        column = start - text.rfind("\n", 0, start)
        names = [c for c in re.split(r"[\s,]+", directive.group(1) or "") if c]
        found.append(Suppression(
            path=path, line=line, column=column,
            last=text.count("\n", 0, token.end()) + 2,
            codes=tuple(c for c in names if c in known),
            unknown=tuple(c for c in names if c not in known)))
    return found


def read(path: str) -> str:
    """The file's text with clang's line ends (CR LF, LF, and a lone CR) as "\n", so that a
    directive's line is the line clang gives its findings."""
    try:
        text = read_regular(path).decode("utf-8", errors="replace")
    except OSError:
        return ""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def apply(findings: list[Finding], selected, files, report_unused: bool, base: str,
          root: str | None = None):
    """The findings no suppression covers, plus QL001/QL002 findings for the suppressions in
    `files` and in the findings' files; and how many findings were suppressed."""
    known = all_rules()
    by_file: dict[str, list[Suppression]] = {}
    for path in sorted({os.path.abspath(p) for p in files} |
                       {os.path.abspath(f.path) for f in findings}):
        by_file[path] = scan(path, read(path), known)
    kept = []
    for f in findings:
        hit = next((s for s in by_file.get(os.path.abspath(f.path), ()) if s.covers(f)), None)
        if hit is None:
            kept.append(f)
        else:
            hit.used.add(f.rule)
    meta = []
    for suppressions in by_file.values():
        for s in suppressions:
            meta += _reports(s, known, selected, report_unused)
    return sorted(kept + finalize(meta, base, root), key=Finding.sort_key), len(findings) - len(kept)


def _reports(s: Suppression, known: dict, selected, report_unused: bool) -> list[Finding]:
    out = []
    at = (s.path, s.line, s.column, "")
    if INVALID in selected:
        invalid = known[INVALID]()
        if not s.codes and not s.unknown:
            out.append(invalid.finding("no-code", None, at, detail="no-code", trace=[]))
        out += [invalid.finding("unknown", None, at, detail=code, trace=[], code=code)
                for code in s.unknown]
    unused = [c for c in s.codes if c in selected and c not in s.used]
    if report_unused and UNUSED in selected and unused:
        where = "this line or the next" if s.last == s.line + 1 else f"lines {s.line}-{s.last}"
        out.append(known[UNUSED]().finding("unused", None, at, detail=",".join(unused),
                                           trace=[], codes=", ".join(unused), where=where))
    return out
