"""What every rule is (flake8-style): a class with a code, a name, its documentation, and a
check that yields findings from the analysis context."""
from __future__ import annotations

import os
from functools import cached_property


class Rule:
    code = ""
    name = ""
    summary = ""
    level = "warning"
    tags: tuple = ()
    precision = "high"
    pack_needs: tuple = ()      # pack tables the rule reads; inactive if none of them is active

    def check(self, ctx):       # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        """The rule's documentation (docs/rules/QLxxx.md): what, why, example, fix."""
        path = os.path.join(docs_dir(), "rules", f"{cls.code}.md")
        try:
            with open(path, encoding="utf-8") as f:
                return f.read()
        except OSError:
            return f"# {cls.code} {cls.name}\n\n{cls.summary}\n"

    @classmethod
    def inactive_reason(cls, pack) -> str:
        """Why the rule cannot report anything with this pack, or ""."""
        return ""


def docs_dir() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(os.path.dirname(here), "docs"), os.path.join(here, "docs")):
        if os.path.isdir(os.path.join(candidate, "rules")):
            return candidate
    return os.path.join(os.path.dirname(here), "docs")


class Context:
    """What rules read: the program, its call graph, the active pack, and shared analyses."""

    def __init__(self, program, graph, pack):
        self.program = program
        self.graph = graph
        self.pack = pack

    @cached_property
    def locks(self):
        from ..analysis.locks import LockAnalysis
        return LockAnalysis(self.program, self.graph, self.pack)
