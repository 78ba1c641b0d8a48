"""What changed since a git revision (`qlint check --diff REV`).

A finding is reported when its location or a step of its path lies on a line changed since REV
(in the working tree, committed or not), or when the change introduced it elsewhere: its
fingerprint is not among the findings of the program as it was at REV. The program at REV is
the current one with the changed files read as they were at REV (libclang's unsaved files, in
the translation units that consist of them), so it needs no checkout and no other build.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

from .errors import QlintError

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.M)


@dataclass
class Change:
    rev: str                     # as given
    commit: str
    top: str                     # the git work tree
    # Keyed by the real path: the compile database may name files through symbolic links.
    lines: dict = field(default_factory=dict)    # path -> the line numbers changed, as now
    before: dict = field(default_factory=dict)   # path -> bytes at REV, None if added since

    def touches(self, finding, base: str) -> bool:
        """Whether the finding (paths relative to `base`) lies on a changed line, at its
        location or at a step of its path."""
        places = [(finding.path, finding.line)] + [(s.path, s.line) for s in finding.trace]
        return any(line in self.lines.get(os.path.realpath(os.path.join(base, path)), ())
                   for path, line in places if path)

    def overlay(self, files) -> tuple:
        """(path, bytes at REV) of the changed files among `files` that existed at REV."""
        names = {os.path.basename(p) for p in self.before}       # resolve only candidates
        found = ((f, self.before.get(os.path.realpath(f))) for f in sorted(set(files))
                 if os.path.basename(f) in names)
        return tuple((f, data) for f, data in found if data is not None)

    def added(self, path: str) -> bool:
        """Whether the file did not exist at REV."""
        real = os.path.realpath(path)
        return real in self.before and self.before[real] is None


def _git(top: str, *args: str, text: bool = True):
    try:
        proc = subprocess.run(["git", "-c", "core.quotePath=off", "-C", top, *args],
                              capture_output=True, text=text, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise QlintError("--diff needs git, which is not installed") from None
    return proc


def changes(rev: str, start: str, wanted=lambda path: True) -> Change:
    """The files and lines changed in the git work tree holding `start` since `rev`, among
    the files `wanted(absolute path)`."""
    found = _git(start if os.path.isdir(start) else os.path.dirname(start) or ".",
                 "rev-parse", "--show-toplevel")
    if found.returncode != 0:
        raise QlintError(f"--diff {rev}: {os.path.abspath(start)} is not in a git work tree")
    top = found.stdout.strip()
    commit = _git(top, "rev-parse", "--verify", "--quiet", rev + "^{commit}")
    if commit.returncode != 0:
        raise QlintError(f"--diff {rev}: not a revision of the git repository at {top}")
    change = Change(rev, commit.stdout.strip(), top)
    status = _git(top, "diff", "--no-renames", "--name-status", "-z", change.commit, "--")
    _fail_on(status, rev)
    fields = status.stdout.split("\0")
    for kind, name in zip(fields[0::2], fields[1::2]):
        path = os.path.realpath(os.path.join(top, name))
        if wanted(path):
            change.before[path] = None if kind.startswith("A") else _at(top, change.commit, name)
            change.lines[path] = set()
    hunks = _git(top, "diff", "--no-renames", "--no-color", "--no-ext-diff", "-U0",
                 change.commit, "--")
    _fail_on(hunks, rev)
    _changed_lines(hunks.stdout, top, change.lines)
    return change


def _fail_on(proc, rev: str) -> None:
    if proc.returncode != 0:
        raise QlintError(f"--diff {rev}: git diff failed: {proc.stderr.strip().splitlines()[-1]}")


def _at(top: str, commit: str, name: str) -> bytes | None:
    proc = _git(top, "show", f"{commit}:{name}", text=False)
    return proc.stdout if proc.returncode == 0 else None


def _changed_lines(diff: str, top: str, lines: dict) -> None:
    """The lines each hunk of a unified diff (-U0) adds, or, where it only removes, the lines
    on either side of the removal: a call the removed line guarded is right after it."""
    path = None
    for text in diff.splitlines():
        if text.startswith("+++ "):
            name = text[4:]
            path = os.path.realpath(os.path.join(top, name[2:])) if name.startswith("b/") else None
            continue
        match = _HUNK.match(text)
        if match and path is not None:
            start, count = int(match.group(1)), int(match.group(2) or 1)
            span = range(start, start + count) if count else (start, start + 1)
            if path in lines:
                lines[path].update(span)
