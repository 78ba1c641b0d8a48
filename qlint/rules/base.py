"""What every rule is (flake8-style): a class with a code, a name, its documentation, the
violations it owns and the words it reports them in (pyflakes' messages are the model)."""
from __future__ import annotations

import os
from functools import cached_property

from ..report.model import Finding
from .dispatch import dispatch, inactive_reason
from .shapes import report


LEVELS = ("error", "warning", "note")     # SARIF's levels: what a finding means to a maintainer


class Rule:
    """A rule reports the violations in the cells it `owns` (qlint/analysis/cells.py), in words
    of its own: `messages` are templates by name; a name may be made specific to a cell's `by`
    or kind ("local-attribute", "entry-section"), the most specific one is used."""
    code = ""
    name = ""
    summary = ""
    level = "warning"
    tags: tuple = ()
    precision = "high"
    owns: tuple = ()            # Cells; the first says what declares them (inactive_reason)
    messages: dict = {}
    defaults = {                # what a rule need not say itself
        "start": "{function}() (callers unknown or irrelevant)",
        "detail-local": "{name}|{lock}|local",
    }

    def check(self, ctx) -> list[Finding]:
        """This rule's findings alone."""
        return dispatch(ctx, [type(self)]) + list(self.about_input(ctx))

    def about_input(self, ctx) -> list[Finding]:
        """Findings about the input itself rather than a violation the analysis found
        (QL000: a translation unit parsed in part)."""
        return []

    def report(self, ctx, violation) -> Finding:
        """The finding of a violation in a cell it owns (qlint/rules/shapes.py)."""
        finding = report(self, ctx, violation)
        finding.level = self.level_of(ctx, violation)
        return finding

    def level_of(self, ctx, violation) -> str:
        """The level of the finding of `violation`: the rule's, unless this violation means
        less (a call that works at run time but goes against the rule's intent)."""
        return self.level

    def words(self, template: str, cell=None, **args) -> str:
        """The template named so, most specific to `cell`, filled with `args` (a rule that says
        nothing of its own of "inherited" violations says what it says of "local" ones)."""
        for base in (template, "local") if template == "inherited" else (template,):
            specific = (f"{base}-{cell.by}", f"{base}-{cell.kind}") if cell else ()
            for key in specific + (base,):
                if key in self.messages:
                    return self.messages[key].format(**args)
        return self.defaults[template].format(**args)

    def finding(self, message: str, cell, at: tuple, *, detail: str, trace: list, related=(),
                unit: str = "", contract=None, ways=(), **args) -> Finding:
        """A finding at `at` (path, line, column, function); its message is the template
        `message` for `cell` (None: about no violation of the analysis), filled with `args`;
        `unit` is the translation unit it is about, where it is not its path's; `contract`
        the inferred contract it rests on; `ways` every way into it (Finding.ways)."""
        path, line, column, function = at
        return Finding(rule=self.code, name=self.name, path=path, line=line, column=column,
                       function=function, message=self.words(message, cell, **args),
                       detail=detail, trace=trace, related=list(related), level=self.level,
                       unit=unit, contract=contract, ways=list(ways))

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
        """Why the rule cannot report anything with this (active) pack, or ""."""
        return inactive_reason(cls, pack)


def docs_dir() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (os.path.join(os.path.dirname(here), "docs"), os.path.join(here, "docs")):
        if os.path.isdir(os.path.join(candidate, "rules")):
            return candidate
    return os.path.join(os.path.dirname(here), "docs")


class Context:
    """What rules read: the program, its call graph, the active pack, and shared analyses."""

    def __init__(self, program, graph, pack, before=None):
        self.program = program
        self.graph = graph
        self.pack = pack
        self.inference = None     # infer.contracts.Inference: the contracts inferred, if any
        self.before = before      # a lock analysis of a pack that differs in requirements

    @cached_property
    def locks(self):
        from ..analysis.locks import LockAnalysis
        before, self.before = self.before, None     # what it does not lend is garbage
        if before is not None and before.pack is self.pack:
            return before
        return LockAnalysis(self.program, self.graph, self.pack, before)
