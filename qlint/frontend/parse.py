"""The work a worker process does: build a precompiled prefix header, or parse one TU into
facts. Tasks are plain picklable objects; `run()` never raises for bad input (problems become
data), and `failed(reason)` is what the pool reports if the worker dies or times out."""
from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass

from ..facts.ir import Diagnostic, TUFacts
from ..files import read_regular
from .clangenv import clang_module, resource_dir
from .compdb import CompileJob
from .extract import Extractor, diagnostics_of

# Flags every parse gets: clang's own headers, and quiet about gcc-only warning flags; no
# modules, whose cache (~/.cache/clang/ModuleCache or -fmodules-cache-path) libclang would write.
_EXTRA = ("-Wno-unknown-warning-option", "-Wno-unused-command-line-argument",
          "-Wno-ignored-optimization-argument", "-ferror-limit=0", "-fno-modules")
_TAKES_VALUE = ("-Xclang", "-mllvm", "-Xpreprocessor", "-x", "-target")
_PCH_TROUBLE = ("precompiled header", "PCH file", "was compiled with", "has been modified")

_index = None


def index():
    """One libclang index per process. It leaves out declarations that come from a
    precompiled header: the TU visit then sees only the TU's own declarations (the PCH's
    names are collected once, when it is built)."""
    global _index
    if _index is None:
        _index = clang_module().Index.create(excludeDecls=True)
        atexit.register(_drop_index)
    return _index


def _drop_index():
    """Disposed of while libclang's module is alive: at interpreter teardown its
    Index.__del__ finds the module already gone and prints an exception."""
    global _index
    _index = None


def parse_args(job: CompileJob) -> list[str]:
    return list(job.args) + ["-resource-dir", resource_dir(), *_EXTRA]


def _parse(path: str, args: list[str], directory: str, unsaved=None):
    ci = clang_module()
    cwd = os.getcwd()
    try:
        if os.path.isdir(directory):
            os.chdir(directory)
        return index().parse(path, args, unsaved_files=unsaved, options=0)
    except ci.TranslationUnitLoadError:
        return None
    finally:
        os.chdir(cwd)


def _unreadable(path: str, degraded: bool) -> str:
    """Why the source cannot be parsed, or "": libclang would only say that it failed (and
    would block reading a FIFO)."""
    try:
        read_regular(path, 0)
    except FileNotFoundError:
        return "no such file (deleted while qlint ran, or a dangling symbolic link)" if degraded \
            else "no such file (in the compile database, but not generated yet or deleted)"
    except OSError as e:
        return e.strerror.lower()
    return ""


def _rejected_flag(job: CompileJob) -> str:
    """The first of the job's flags with which libclang refuses to parse even an empty file
    (an unknown target, -x or -Xclang option), or ""."""
    flags = list(job.args)
    extra = parse_args(CompileJob(job.file, args=()))
    start = 0
    for n in range(1, len(flags) + 1):
        if n < len(flags) and (flags[n - 1] in _TAKES_VALUE or not flags[n].startswith("-")):
            continue                            # flags[n] is a value: tried with its flag
        if _parse(job.file, flags[:n] + extra, job.directory, [(job.file, "")]) is None:
            return " ".join(flags[start:n])
        start = n
    return ""


_DEEPEST = 50_000                     # nested statements or expressions the extractor follows


def _deeply(func):
    """func() on a thread with room for `_DEEPEST` levels of the extractor's recursion:
    generated code nests far deeper than Python's default limit of 1000 (an else-if chain
    of thousands of branches is that many nested if statements)."""
    result, error = [], []

    def run():
        try:
            result.append(func())
        except BaseException as e:      # re-raised in the caller's thread
            error.append(e)
    limit, size = sys.getrecursionlimit(), threading.stack_size()
    sys.setrecursionlimit(_DEEPEST + 200)
    threading.stack_size(1 << 30)       # virtual: pages are used only as deep as it goes
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(size)
        sys.setrecursionlimit(limit)
    if error:
        raise error[0]
    return result[0]


def _includes(tu) -> tuple[str, ...]:
    return tuple(sorted({os.path.normpath(inc.include.name) for inc in tu.get_includes()
                         if inc.include}))


@dataclass
class TUTask:
    """Parse one TU (with a precompiled prefix header when `pch` is set) into facts."""
    job: CompileJob
    pch: "PrefixResult | None" = None

    @property
    def key(self) -> str:
        return self.job.file

    def run(self) -> TUFacts:
        why = _unreadable(os.path.join(self.job.directory, self.job.file), self.job.degraded)
        if why:
            return self.failed(why)
        args = parse_args(self.job)
        overlay = [(path, data) for path, data in self.job.overlay] or None
        tu = None
        if self.pch is not None:
            tu = _parse(self.job.file, args + ["-include-pch", self.pch.output], self.job.directory,
                        overlay)
            if tu is not None and any(any(t in d.message for t in _PCH_TROUBLE)
                                      for d in diagnostics_of(tu)):
                tu = None                       # the PCH does not fit: parse without it
        used_pch = tu is not None and self.pch is not None
        if tu is None:
            tu = _parse(self.job.file, args, self.job.directory, overlay)
        if tu is None:
            flag = _rejected_flag(self.job)
            return self.failed(f"libclang rejects the flag '{flag}' of its compile command"
                               if flag else "libclang could not parse the file")
        cwd = os.getcwd()
        try:
            os.chdir(self.job.directory) if os.path.isdir(self.job.directory) else None
            statics = self.pch.statics if used_pch else ()
            includes = _includes(tu)
            facts = _deeply(Extractor(tu, self.job.file, statics, includes,
                                      dict(self.job.overlay)).run)
        except RecursionError:
            return self.failed(f"statements nested too deeply to analyse (more than "
                               f"{_DEEPEST} levels)")
        finally:
            os.chdir(cwd)
        facts.diagnostics = diagnostics_of(tu)
        facts.includes = includes
        if used_pch:
            facts.declared = tuple(sorted(set(facts.declared) | set(self.pch.declared)))
            facts.includes = tuple(sorted(set(facts.includes) | set(self.pch.includes)))
        facts.degraded = self.job.degraded
        return facts

    def failed(self, reason: str) -> TUFacts:
        return TUFacts(path=self.job.file, degraded=self.job.degraded, problem=reason,
                       diagnostics=[Diagnostic("fatal", self.job.file, 0, 0, reason)])


@dataclass
class PrefixResult:
    output: str                       # the .pch file
    declared: tuple[str, ...] = ()    # function names (and "attr:X") the prefix declares
    includes: tuple[str, ...] = ()    # files it consists of
    problem: str = ""
    statics: tuple = ()               # (name, file, line, column) of its static functions


@dataclass
class PrefixTask:
    """Precompile the header every TU of a flag group includes first (qemu/osdep.h)."""
    header: str
    args: tuple[str, ...]
    directory: str
    output: str

    @property
    def key(self) -> str:
        return self.output

    def run(self) -> PrefixResult:
        args = list(self.args) + ["-resource-dir", resource_dir(), *_EXTRA, "-x", "c-header"]
        tu = _parse(self.header, args, self.directory)
        if tu is None:
            return self.failed("libclang could not parse the header")
        errors = diagnostics_of(tu)
        if errors:
            return self.failed(f"{errors[0].file}:{errors[0].line}: {errors[0].message}")
        tmp = f"{self.output}.{os.getpid()}.tmp"
        try:
            tu.save(tmp)
            os.replace(tmp, self.output)
        except Exception as e:  # libclang reports save errors as TranslationUnitSaveError
            return self.failed(f"cannot save precompiled header: {e}")
        scan = Extractor(tu, self.header)
        scan.scan()
        return PrefixResult(self.output, tuple(sorted(scan.declared)), _includes(tu) + (self.header,),
                            statics=scan.static_definitions())

    def failed(self, reason: str) -> PrefixResult:
        return PrefixResult(self.output, problem=reason)


