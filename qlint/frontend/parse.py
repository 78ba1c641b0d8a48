"""Parse one compile job into TUFacts. This is what a worker process runs."""
from __future__ import annotations

import os

from ..facts.ir import Diagnostic, TUFacts
from .clangenv import clang_module, resource_dir
from .compdb import CompileJob
from .extract import Extractor, diagnostics_of

# Flags every parse gets: clang's own headers, and quiet about gcc-only warning flags.
_EXTRA = ("-Wno-unknown-warning-option", "-Wno-unused-command-line-argument",
          "-Wno-ignored-optimization-argument", "-ferror-limit=0")

_index = None


def parse_args(job: CompileJob) -> list[str]:
    return list(job.args) + ["-resource-dir", resource_dir(), *_EXTRA]


def parse_job(job: CompileJob) -> TUFacts:
    """Parse and extract; problems become data on the result, never exceptions."""
    global _index
    ci = clang_module()
    if _index is None:
        _index = ci.Index.create()
    cwd = os.getcwd()
    try:
        if os.path.isdir(job.directory):
            os.chdir(job.directory)
        try:
            tu = _index.parse(job.file, parse_args(job), options=0)
        except ci.TranslationUnitLoadError:
            return _failed(job, "libclang could not parse the file")
        facts = Extractor(tu, job.file).run()
        facts.diagnostics = diagnostics_of(tu)
        facts.includes = tuple(sorted({os.path.normpath(inc.include.name)
                                       for inc in tu.get_includes() if inc.include}))
        facts.degraded = job.degraded
        return facts
    finally:
        os.chdir(cwd)


def _failed(job: CompileJob, reason: str) -> TUFacts:
    return TUFacts(path=job.file, degraded=job.degraded, problem=reason,
                   diagnostics=[Diagnostic("fatal", job.file, 0, 0, reason)])
