"""QL301..QL304: requirements QEMU declares with attributes (coroutine_fn, no_coroutine_fn,
GRAPH_RDLOCK, GRAPH_WRLOCK), checked the way QEMU's annotations mean them, and coroutine
context required or excluded by name.

A function declared with an annotation may assume what it promises (a coroutine_fn runs in
coroutine context, a GRAPH_RDLOCK function holds the graph lock): its callers are checked. A
function without the annotation that calls one must provide it on the path to the call, as
clang's -Wthread-safety demands, here also through struct fields, function pointers and
callbacks. A function that calls one without providing it, but only ever runs where it is
provided (every caller provides it, every registration's kind holds it), is missing the
annotation: QL304 suggests it instead.
"""
from __future__ import annotations

from ..analysis.cells import KINDS, cells
from .base import Rule


class CoroutineFnFromNonCoroutine(Rule):
    code = "QL301"
    name = "coroutine-fn-from-non-coroutine"
    summary = "a coroutine_fn is called from code that may not run in coroutine context"
    level = "error"
    tags = ("coroutines",)
    owns = cells("requires", "context", "attribute", ("undeclared", "passed")) + \
        cells("requires", "context", "name", "entry") + \
        cells("contract", "context", "", "registration")
    messages = {
        "undeclared": "{callee} needs coroutine context, but {function}() is neither "
                      "coroutine_fn nor coroutine_mixed_fn and may run outside a coroutine",
        "passed": "{function}() passes {callback} to {callee}(), which calls it: it needs "
                  "coroutine context, but {function}() is neither coroutine_fn nor "
                  "coroutine_mixed_fn and may run outside a coroutine",
        "step-passed": "calls {required}() through its parameter",
        "entry": "{required}() needs coroutine context, which it does not have on this path "
                 "from {entry}",
        "step": "calls {required}() outside a coroutine",
        "registration": "{function}() needs coroutine context but is registered as a {kind} by "
                        "{api}(): it does not run in a coroutine",
    }


class NoCoroutineFnInCoroutine(Rule):
    code = "QL302"
    name = "no-coroutine-fn-in-coroutine"
    summary = "a no_coroutine_fn is called in coroutine context"
    level = "error"
    tags = ("coroutines",)
    owns = cells("excludes", "context", "attribute", ("local", "inherited")) + \
        cells("excludes", "context", "name", ("local", "inherited", "entry"))
    messages = {
        "local-attribute": "{callee} must not run in a coroutine, but {function}() calls it in "
                           "coroutine context (call its coroutine_fn counterpart)",
        "local": "{callee} must not run in a coroutine, but {function}() calls it in coroutine "
                 "context",
        "inherited": "{required}() must not run in a coroutine, but {function}() reaches it in "
                     "coroutine context",
        "helper-every": "{callee} must not run in a coroutine, but {function}() runs in "
                        "coroutine context: every caller calls it there (as {origin}() does)",
        "helper-some": "{callee} must not run in a coroutine, but {function}() calls it in "
                       "coroutine context where {origin}() calls {function}()",
        "step-helper": "calls {required}() in coroutine context",
        "start": "{function}() runs in coroutine context",
        "step": "calls {required}()",
        "detail-local": "{required}|{lock}",
        "entry": "{required}() must not run in a coroutine, but it does on this path from "
                 "{entry}",
    }

    def level_of(self, ctx, violation) -> str:
        """A co_wrapper_mixed callee (no_coroutine_fn and coroutine_mixed_fn) tests
        qemu_in_coroutine() and calls its coroutine_fn counterpart: it works at run time, so
        calling it from a coroutine is a warning; a co_wrapper or aio_poll() is an error."""
        last = violation.chain[-1] if getattr(violation, "chain", None) else violation.witness
        targets = [last.target] if last.target else \
            ctx.program.by_name.get(last.required, []) or [last.call.callee]
        mixed = any("annotate:coroutine_mixed_fn" in ctx.locks.sem.caller_attrs(t)
                    for t in targets if t)
        return "warning" if mixed else self.level


class GraphLockRequired(Rule):
    code = "QL303"
    name = "graph-lock-required"
    summary = "a GRAPH_RDLOCK/GRAPH_WRLOCK function is reached without the graph lock"
    level = "error"
    tags = ("concurrency", "locking", "graph-lock")
    owns = cells("requires", "lock", "attribute", ("undeclared", "passed", "asserted")) + \
        cells("contract", "lock", "", "registration")
    messages = {
        "undeclared": "{callee} requires {lock}, which {function}() neither holds nor declares "
                      "({suggestion})",
        "asserted": "{asserting}() asserts {lock} in {context} ({assertion}()), and {function}() "
                    "calls it there{through} without holding or declaring {lock} ({suggestion})",
        "step-asserted": "calls {asserting}()",
        "passed": "{function}() passes {callback} to {callee}(), which calls it: it requires "
                  "{lock}, which {function}() neither holds nor declares ({suggestion})",
        "step-passed": "calls {required}() through its parameter",
        "registration": "{function}() requires {lock} but is registered as a {kind} by {api}(): "
                        "nothing holds {lock} when it runs",
    }


class MissingAnnotation(Rule):
    code = "QL304"
    name = "missing-annotation"
    summary = "a function only runs where an annotation's promise holds but lacks the annotation"
    level = "note"
    tags = ("coroutines", "graph-lock", "annotations")
    precision = "medium"
    owns = cells("requires", KINDS, "attribute", "annotatable")
    messages = {
        "annotatable": "{function}() calls {callee}, which needs {needed}, and {origin}: "
                       "declare {function}() {annotation}",
    }
