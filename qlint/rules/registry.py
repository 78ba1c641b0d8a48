"""The registry of rules (flake8-style): each rule is a class with a code, a name, its
documentation, and a check that yields findings from the analysis context."""
from __future__ import annotations

import os
import re
from functools import cached_property

from ..errors import QlintError
from .selection import resolve

RULES: dict[str, type] = {}


def rule(cls):
    RULES[cls.code] = cls
    return cls


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


def all_rules() -> dict[str, type]:
    from . import input_rules, lock_rules, modern_rules, section_rules, suppression_rules  # noqa: F401
    return dict(sorted(RULES.items()))


def select(layers: list) -> list[type]:
    """The rules the selection layers choose, by ruff's precedence (rules/selection.py)."""
    rules = all_rules()
    unknown = unknown_codes([c for layer in layers
                             for c in (layer.select or ()) + layer.extend_select + layer.ignore])
    if unknown:
        raise QlintError(f"unknown rule code '{unknown[0]}' (see `qlint rules`)")
    return [rules[c] for c in resolve(list(rules), layers)]


def unknown_codes(codes) -> list[str]:
    """The codes that are neither a rule's code nor a prefix of one."""
    rules = all_rules()
    return [code for code in codes
            if not re.fullmatch(r"QL\d{0,3}", code) or not any(c.startswith(code) for c in rules)]


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
