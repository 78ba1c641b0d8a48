"""QL102 unbalanced-lock, QL201 unbalanced-section and QL202 section-across-deferral: what
qlint/analysis/balance.py finds, in the words of locks (acquired, released, held) and of
sections (begun, ended, open)."""
from __future__ import annotations

from ..analysis.cells import cells
from .base import Rule

BALANCE = ("paths", "twice", "entry-point", "handoff")


class _Balance(Rule):
    """A lock or a section left open, or closed without being open."""
    noun = ("section", "begun", "ended", "open")     # noun, opened, closed, still
    messages = {
        "leak": "{section} {noun}{instance} {opened} at line {line} is still {still} when "
                "{function}() returns on this path",
        "extra-end": "{function}() {closed} the {section} {noun} on this path without having "
                     "{opened} it, unlike its other paths",
        "unpaired-return": "{function}() returns with the {section} {noun} {closed} on this "
                           "path but not on its others: its callers cannot tell which",
        "twice": "{section} {noun}{instance} {closed} twice on this path{before}",
        "entry-open": "{function}() leaves the {section} {noun}{instance} {still} "
                      "{where_taken}, but as {kind} it has no caller to close it",
        "entry-close": "{function}() {closed} the {section} {noun}, which {kind} does not hold "
                       "and nobody handed to it",
        "handoff": "the {section} {noun} that {owner}() hands to deferred {callback}() (line "
                   "{line}) is not {closed} on {some}",
    }

    @classmethod
    def nouns(cls) -> dict:
        return dict(zip(("noun", "opened", "closed", "still"), cls.noun))


class UnbalancedLock(_Balance):
    code = "QL102"
    name = "unbalanced-lock"
    summary = "a lock is left held, or released without being held, on some path"
    level = "error"
    tags = ("concurrency", "locking")
    noun = ("lock", "acquired", "released", "held")
    owns = cells("lock", "lock", "", BALANCE)


class UnbalancedSection(_Balance):
    code = "QL201"
    name = "unbalanced-section"
    summary = "a section is left open, or ended without being begun, on some path"
    level = "error"
    tags = ("concurrency", "sections")
    owns = cells("section", "section", "", BALANCE)


class SectionAcrossDeferral(Rule):
    code = "QL202"
    name = "section-across-deferral"
    summary = "a section stays open across a deferral without the section that must span it"
    level = "error"
    tags = ("concurrency", "sections", "event-loop")
    owns = cells("across-deferral", ("section", "lock"), "", "deferral")
    messages = {
        "missing": "{section} is open across the deferral of {callback}() without {requires}",
        "early": "{requires} ends in deferred {callback}() before {section} does, so it does "
                 "not cover the whole span",
    }
