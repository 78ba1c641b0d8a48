"""Map the paths given on the command line to compile jobs.

With a compile database: a directory means the database's TUs below it (C files there that the
build does not compile are counted and skipped: they belong to other configurations); a file
means its own entry, or, for a file the database does not list, a degraded parse with a warning.
A header or .c.inc file means the TUs of the database that include it by name.

Without a database the run is degraded: every .c file is parsed with guessed flags (the
enclosing tree's include/ directory, the file's directory, -I/-D from the command line and
config). Generated headers of a build are missing then, so parse errors are expected and
counted; the run says so.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from ..errors import QlintError
from ..files import read_regular
from ..project import ancestors, common_start, find_root
from . import compdb
from .compdb import CompileJob

SOURCE_SUFFIXES = (".c",)
INCLUDED_SUFFIXES = (".h", ".inc")


@dataclass
class Plan:
    jobs: list = field(default_factory=list)
    database: str | None = None
    degraded: bool = False
    not_in_database: list = field(default_factory=list)   # C files under a dir the DB skips
    warnings: list = field(default_factory=list)
    root: str = ""             # the project root (qlint/project.py)


def plan(paths: list[str], build_dir: str | None, includes=(), defines=(),
         excludes=(), force_exclude: bool = False, degraded: bool = True,
         config_path: str | None = None) -> Plan:
    """Excludes (project.Glob) apply to what a directory or header brings in; to a path named
    on the command line only with `force_exclude` (as in flake8 and ruff: a pre-commit hook
    names every file). Without a compile database the run is degraded, or with
    `degraded=False` an error."""
    for p in paths:
        _check_path(p)
    start = common_start(paths)
    db_path = compdb.find(start, build_dir)
    result = Plan(database=db_path)
    db = compdb.load(db_path) if db_path else None
    result.root = find_root(config_path, db.source_root() if db is not None else None, start)
    excludes = [g.at(result.root) for g in excludes]
    if db is None:
        if not degraded:
            raise QlintError(f"no compile_commands.json in {start} or a directory above it, nor "
                             f"in their build/ (configure QEMU, pass -p BUILD_DIR, or --degraded "
                             f"to guess include paths)")
        result.degraded = True
    files: dict[str, CompileJob] = {}
    for p in paths:
        if force_exclude and _excluded(os.path.abspath(p), excludes):
            continue
        named = (os.path.abspath(p), os.path.realpath(p))
        for job in _jobs_for(p, db, result, includes, defines):
            if job.file in named or not _excluded(job.file, excludes):
                files.setdefault(job.file, job)
    result.jobs = [files[f] for f in sorted(files)]
    return result


def _check_path(p: str) -> None:
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise QlintError(f"{p}: no such file or directory") from None
    except OSError as e:
        raise QlintError(f"{p}: {e.strerror.lower()}") from None
    if stat.S_ISDIR(st.st_mode):
        if not os.access(p, os.R_OK | os.X_OK):
            raise QlintError(f"{p}: permission denied")
        return
    if not stat.S_ISREG(st.st_mode):
        raise QlintError(f"{p}: not a regular file or directory")
    if not os.access(p, os.R_OK):
        raise QlintError(f"{p}: permission denied")


def _excluded(path: str, excludes) -> bool:
    return any(g.matches(path) for g in excludes)


def _jobs_for(p: str, db, result: Plan, includes, defines):
    real = os.path.realpath(p)
    if os.path.isdir(real):
        if db is not None:
            listed = db.files_under(p)
            listed_set = set(listed)
            result.not_in_database += [f for f in _c_files(real) if db.lookup(f) not in listed_set]
            for f in listed:
                yield db.job(f)
        else:
            for f in _c_files(real):
                yield degraded_job(f, includes, defines)
        return
    if real.endswith(SOURCE_SUFFIXES):
        key = db.lookup(p) if db is not None else None
        if key is not None:
            yield db.job(key)
            return
        if db is not None:
            result.warnings.append(f"{p}: not in {db.path}; parsed in degraded mode")
        yield degraded_job(real, includes, defines)
        return
    if real.endswith(INCLUDED_SUFFIXES):
        users = _including_tus(real, db) if db is not None else []
        if not users:
            result.warnings.append(f"{p}: no translation unit in the compile database includes it")
        yield from users
        return
    raise QlintError(f"{p}: not a C source file (.c), header (.h) or included source (.inc)")


def _c_files(directory: str) -> list[str]:
    out = []
    for root, dirs, files in os.walk(directory):      # does not follow symlinked dirs
        # A directory with its own compile_commands.json is another tree, built on its own.
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and
                         not os.path.isfile(os.path.join(root, d, "compile_commands.json")))
        for name in sorted(files):
            path = os.path.join(root, name)
            # Not only regular files: a FIFO or a dangling link is reported as a failed TU.
            if name.endswith(SOURCE_SUFFIXES) and not os.path.isdir(path):
                out.append(os.path.realpath(path) if os.path.exists(path) else path)
    return sorted(set(out))


def _including_tus(path: str, db) -> list[CompileJob]:
    base = re.escape(os.path.basename(path))
    pattern = re.compile(rb'#\s*include\s*["<]([^">]*/)?' + base.encode() + rb'[">]')
    out = []
    directory = os.path.dirname(path)
    for f in db.files_under(os.path.dirname(directory) if directory else "/"):
        try:
            if pattern.search(read_regular(f)):
                out.append(db.job(f))
        except OSError:
            continue
    return out


def tree_root(path: str) -> str | None:
    """The enclosing source tree: the nearest ancestor with an include/ directory."""
    return next((d for d in ancestors(os.path.dirname(os.path.abspath(path)))
                 if os.path.isdir(os.path.join(d, "include"))), None)


def degraded_job(path: str, includes=(), defines=()) -> CompileJob:
    args = ["-std=gnu11", "-D_GNU_SOURCE", "-iquote", os.path.dirname(path)]
    root = tree_root(path)
    if root:
        args += ["-iquote", root, "-I", os.path.join(root, "include")]
        for sub in ("build", os.path.join("build", "include")):
            if os.path.isdir(os.path.join(root, sub)):
                args += ["-iquote", os.path.join(root, sub)]
    for inc in includes:
        args += ["-I", os.path.abspath(inc)]
    for d in defines:
        args.append("-D" + d)
    return CompileJob(file=path, args=args, directory=os.path.dirname(path), degraded=True)
