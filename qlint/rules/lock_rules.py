"""QL101 lock-required, QL103 lock-excluded and QL203 outside-section: a requirement (a lock
held, a lock not held, a section open) unmet on a path from an entry point, or inside the
function that released (or holds) it."""
from __future__ import annotations

from ..analysis.cells import BY, cells
from .base import Rule

_CHAIN = ("local", "inherited")


class LockRequired(Rule):
    code = "QL101"
    name = "lock-required"
    summary = "a function that requires a lock is reached from an entry point without it"
    level = "error"
    tags = ("concurrency", "locking")
    owns = cells("requires", "lock", "name", "entry") + cells("requires", "lock", BY, _CHAIN)
    messages = {
        "entry": "{required}() requires {what}, which is not held on this path from {entry}",
        "local": "{required}() requires {what}, but {lock} was released by {function}() before "
                 "this call",
        "step": "calls {required}() without {lock}",
    }


class OutsideSection(Rule):
    code = "QL203"
    name = "outside-section"
    summary = "a function that must run inside a section is reached where the section is not open"
    level = "error"
    tags = ("concurrency", "sections")
    owns = cells("requires", "section", "name", "entry") + \
        cells("requires", "section", BY, _CHAIN) + \
        cells("requires", "section", "attribute", ("undeclared", "passed")) + \
        cells("contract", "section", "", "registration")
    messages = {
        "entry": "{required}() must run inside the {lock} section, which is not open on this "
                 "path from {entry}",
        "local": "{required}() must run inside the {lock} section, but {lock} was ended by "
                 "{function}() before this call",
        "step": "calls {required}() outside {lock}",
        "undeclared": "{callee} must run inside the {lock} section, which {function}() neither "
                      "opens nor declares ({suggestion})",
        "passed": "{function}() passes {callback} to {callee}(), which calls it: it must run "
                  "inside the {lock} section, which {function}() neither opens nor declares "
                  "({suggestion})",
        "step-passed": "calls {required}() through its parameter",
        "registration": "{function}() must run inside the {lock} section but is registered as a "
                        "{kind} by {api}(): nothing opens {lock} when it runs",
    }


class LockExcluded(Rule):
    code = "QL103"
    name = "lock-excluded"
    summary = "a function that must run without a lock is called with it held"
    level = "error"
    tags = ("concurrency", "locking", "deadlock")
    owns = cells("excludes", ("lock", "section"), BY, ("entry",) + _CHAIN)
    messages = {
        "entry": "{required}() must not be called with {lock} held, which it is on this path "
                 "from {entry}",
        "entry-section": "{required}() must not be called inside the {lock} section, which is "
                         "open on this path from {entry}",
        "local": "{required}() must not be called with {lock} held, but {lock} is held by "
                 "{function}() here",
        "local-section": "{required}() must not be called inside the {lock} section, but "
                         "{function}() has it open here",
        "step": "calls {required}() with {lock} held",
        "step-section": "calls {required}() inside {lock}",
    }
