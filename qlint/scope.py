"""What a run reports, as distinct from what it analyses.

The *context* is the whole program: every translation unit of the compile database (or, without
one, the C files of the project), so that a function is judged with every caller and every
callback registration the program has. The *report scope* is the paths named on the command
line: a finding is reported when its location lies in them (with `--report-paths-through`, also
when a step of its path does). `exclude` globs take paths out of the report scope, as in ruff:
what a named directory holds, and a named file only with `--force-exclude`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


def _forms(path: str) -> tuple[str, ...]:
    """A path as named and with symbolic links resolved: libclang reports either."""
    return tuple(dict.fromkeys((os.path.abspath(path), os.path.realpath(path))))


def _below(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


@dataclass(frozen=True)
class Scope:
    """The named paths (absolute, each as named and resolved), the globs taken out of them,
    and whether a finding whose path only passes through them counts."""
    paths: tuple = ()
    files: frozenset = frozenset()          # files named on the command line
    excludes: tuple = ()                    # project.Glob, anchored
    force_exclude: bool = False
    through: bool = False

    @classmethod
    def of(cls, paths, excludes=(), force_exclude: bool = False, through: bool = False) -> Scope:
        forms = tuple(f for p in paths for f in _forms(p))
        files = frozenset(f for p in paths if not os.path.isdir(p) for f in _forms(p))
        return cls(forms, files, tuple(excludes), force_exclude, through)

    def holds(self, path: str) -> bool:
        """Whether an absolute path lies in the scope."""
        return any(_below(path, p) for p in self.paths) and not self.excluded(path)

    def excluded(self, path: str) -> bool:
        """Whether an `exclude` glob takes an absolute path out of what is reported."""
        if path in self.files and not self.force_exclude:
            return False
        return any(g.matches(path) for g in self.excludes)

    def covers(self, finding, base: str) -> bool:
        """Whether a finding (paths relative to `base`) is reported: at its location or, for
        QL000, its translation unit; with `through`, at any step of its path too."""
        places = [finding.path, finding.unit]
        if self.through:
            places += [step.path for step in finding.trace]
        return any(self.holds(os.path.normpath(os.path.join(base, p))) for p in places if p)
