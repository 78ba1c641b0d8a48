"""The project root, and the globs anchored to it.

Baseline fingerprints and the configuration's globs (`exclude`, `per-file-ignores`) are relative
to the project root, so that they mean the same whichever directory of the tree qlint runs from,
as ruff's are relative to its project root. Globs given on the command line are relative to the
working directory, as the paths typed beside them are.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatchcase


def find_root(config_path: str | None, source_root: str | None, start: str) -> str:
    """The configuration file's directory; else the source tree of the compile database; else
    the root of the git work tree holding `start`; else the working directory."""
    if config_path:
        return os.path.dirname(os.path.abspath(config_path))
    return source_root or git_root(start) or os.getcwd()


def git_root(start: str) -> str | None:
    """The nearest directory at or above `start` holding `.git` (a directory, or the file of a
    worktree or submodule); found without running git."""
    return next((d for d in ancestors(start) if os.path.exists(os.path.join(d, ".git"))), None)


def common_start(paths) -> str:
    """Where a run's compile database is looked for: the deepest directory holding every
    named path (the path itself if there is one), so that the order the paths are named in
    changes nothing."""
    if not paths:
        return "."
    if len(paths) == 1:
        return paths[0]
    return os.path.commonpath([os.path.abspath(p) for p in paths])


def ancestors(start: str):
    """The directory `start` is (or, for a file, is in), then every directory above it."""
    current = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    while True:
        yield current
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


@dataclass(frozen=True)
class Glob:
    """A path glob as ruff reads one: relative to `anchor` (None: the project root, known once
    the compile database is found), matching a path or a directory above it; a glob without a
    `/` also matches a file or directory of that name anywhere below the anchor."""
    pattern: str
    anchor: str | None = None

    def at(self, root: str) -> Glob:
        return self if self.anchor is not None else Glob(self.pattern, root)

    def matches(self, path: str) -> bool:
        anchor = self.anchor or os.getcwd()
        path = os.path.normpath(os.path.join(anchor, path))
        full = os.path.normpath(os.path.join(anchor, self.pattern))
        rel = os.path.relpath(path, anchor)
        inside = rel != ".." and not rel.startswith(".." + os.sep)
        candidates = [path]
        if inside:          # the directories between the anchor and the path
            parts = rel.split(os.sep)
            candidates += [os.path.join(anchor, *parts[:i]) for i in range(1, len(parts))]
        if any(fnmatchcase(c, full) for c in candidates):
            return True
        if "/" in self.pattern:
            return False
        names = rel.split(os.sep) if inside else [os.path.basename(path)]
        return any(fnmatchcase(name, self.pattern) for name in names)


def globs(patterns, anchor: str | None = None) -> list[Glob]:
    return [Glob(p, anchor) for p in patterns or ()]


@dataclass(frozen=True)
class PerFileIgnore:
    """Rules (codes or prefixes) not reported in the files a glob matches: `per-file-ignores`."""
    glob: Glob
    codes: tuple

    def at(self, root: str) -> PerFileIgnore:
        return PerFileIgnore(self.glob.at(root), self.codes)

    def covers(self, finding, base: str) -> bool:
        """Whether it silences `finding`, whose paths are relative to `base`: at its path, or
        in the translation unit it is about (QL000's, whose first error may lie in a header)."""
        return any(finding.rule.startswith(c) for c in self.codes) and any(
            self.glob.matches(os.path.join(base, p)) for p in (finding.path, finding.unit) if p)


def per_file_ignores(table: dict | None, anchor: str | None = None) -> list[PerFileIgnore]:
    return [PerFileIgnore(Glob(pattern, anchor), tuple(codes))
            for pattern, codes in (table or {}).items()]
