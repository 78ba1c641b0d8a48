"""QL301..QL304: requirements QEMU declares with attributes (coroutine_fn, no_coroutine_fn,
GRAPH_RDLOCK, GRAPH_WRLOCK), checked the way QEMU's annotations mean them.

A function declared with an annotation may assume what it promises (a coroutine_fn runs in
coroutine context, a GRAPH_RDLOCK function holds the graph lock): its callers are checked. A
function without the annotation that calls one must provide it on the path to the call, as
clang's -Wthread-safety demands, here also through struct fields, function pointers and
callbacks. A function that calls one without providing it, but only ever runs where it is
provided (every caller provides it, every registration's kind holds it), is missing the
annotation: QL304 suggests it instead.
"""
from __future__ import annotations

from ..analysis.locks import EntryPoint
from ..report.model import Finding, Related, Step
from .lock_rules import entry_step, registration_related
from .base import Rule


def _attribute_witnesses(ctx, kind: str, section_kind: str):
    """(function key, lock, witness) of terminal witnesses whose requirement comes from an
    attribute, in functions that do not hold the lock by their own contract."""
    kinds = ctx.pack.section_kinds()
    analysis = ctx.locks
    for key in sorted(analysis.summaries):
        table = getattr(analysis.summaries[key], kind)
        for lock in sorted(table):
            if kinds.get(lock) != section_kind:
                continue
            seen = set()
            for w in table[lock]:
                if w.terminal and w.by_attribute and (id(w.call), w.required) not in seen:
                    seen.add((id(w.call), w.required))
                    yield key, lock, w


def _unprovided(ctx, section_kind: str):
    """The attribute requirements (QL301, QL303) a function neither provides nor may leave
    to its callers: where every way in provides the lock, QL304 suggests the annotation."""
    for key, lock, w in _attribute_witnesses(ctx, "requires", section_kind):
        if not runs_only_with(ctx, key, lock):
            yield key, lock, w


def runs_only_with(ctx, key: str, lock: str):
    """The first way `key` is entered, if every way provides `lock` (callers hold it at the
    call, registrations' kinds hold it); None if some way does not or none is known."""
    analysis, graph = ctx.locks, ctx.graph
    ways = []
    for edge in graph.callers_of(key):
        caller = analysis.summary(edge.caller)
        if any(w.target == key and w.call is edge.call for w in caller.requires.get(lock, ())):
            return None
        ways.append(("call", edge))
    for reg in graph.registered.get(key, ()):
        holds = ctx.pack.entry_holds(reg.kind)
        if lock not in holds:
            return None
        ways.append(("registration", EntryPoint(reg.func, reg.kind, holds, reg)))
    for entry in analysis.entry_points():
        if entry.func == key and entry.kind == "entry":
            if lock not in entry.holds:
                return None
            ways.append(("entry", entry))
    return ways[0] if ways else None


def declared_by(ctx, w) -> str:
    """The attribute that gives the witness's callee its requirement ("GRAPH_RDLOCK",
    "coroutine_fn"), read from the field it is called through or the function."""
    program = ctx.program
    wanted = {r.attribute for r in ctx.pack.requirements if r.attribute and r.lock == w.lock}
    attrs = program.field_attrs.get(w.required, ())
    if not attrs:
        keys = program.by_name.get(w.required, []) or [w.call.callee or w.required]
        attrs = tuple(a for k in keys if k for a in program.attrs(k))
    found = next((a for a in attrs if a in wanted), "")
    return found.removeprefix("annotate:")


def callee_words(ctx, w) -> str:
    """`bdrv_co_flush() (GRAPH_RDLOCK)`, `a call through BlockDriver.bdrv_refresh_limits
    (GRAPH_RDLOCK_PTR)`, `filter_check() (GRAPH_RDLOCK), called through Filter.check,`."""
    attribute = declared_by(ctx, w)
    tag = f" ({attribute})" if attribute else ""
    via = w.call.via if w.call.via and not w.call.via.startswith("*") else ""
    if via and w.required == via:
        return f"a call through {via}{tag}"
    if via:
        return f"{w.required}(){tag}, called through {via},"
    return f"{w.required}(){tag}"


def suggestion(ctx, lock: str) -> str:
    """The annotation that provides `lock` ([[contract]] order): coroutine_fn, GRAPH_RDLOCK."""
    for c in ctx.pack.contracts:
        if lock in c.holds and c.attribute:
            return c.attribute.removeprefix("annotate:")
    return lock


def _call_finding(rule_, ctx, key, witness, message, first="") -> Finding:
    fn = ctx.program.functions[key]
    call = witness.call
    return Finding(rule=rule_.code, name=rule_.name, path=fn.file, line=call.line, column=call.col,
                   function=fn.name, message=message,
                   detail=f"{witness.required}|{witness.lock}",
                   trace=[Step(fn.name, fn.file, fn.line, first or f"{fn.name}() is not annotated"),
                          Step(fn.name, fn.file, call.line, f"calls {witness.required}()",
                               call.col)],
                   level=rule_.level)


class CoroutineFnFromNonCoroutine(Rule):
    code = "QL301"
    name = "coroutine-fn-from-non-coroutine"
    summary = "a coroutine_fn is called from code that may not run in coroutine context"
    level = "error"
    tags = ("coroutines",)

    @classmethod
    def inactive_reason(cls, pack) -> str:
        return _inactive(pack, "requires", "context")

    def check(self, ctx):
        for key, lock, w in _unprovided(ctx, "context"):
            fn = ctx.program.functions[key]
            yield _call_finding(self, ctx, key, w,
                                f"{callee_words(ctx, w)} needs coroutine context, but "
                                f"{fn.name}() is neither coroutine_fn nor coroutine_mixed_fn "
                                f"and may run outside a coroutine")


class NoCoroutineFnInCoroutine(Rule):
    code = "QL302"
    name = "no-coroutine-fn-in-coroutine"
    summary = "a no_coroutine_fn is called in coroutine context"
    level = "error"
    tags = ("coroutines",)

    @classmethod
    def inactive_reason(cls, pack) -> str:
        return _inactive(pack, "excludes", "context")

    def check(self, ctx):
        kinds = ctx.pack.section_kinds()
        for key in sorted(ctx.locks.summaries):
            seen = set()
            for local in ctx.locks.summaries[key].local:
                w = local.witness
                if local.kind != "held" or kinds.get(w.lock) != "context" or not w.by_attribute \
                        or id(w.call) in seen:
                    continue
                seen.add(id(w.call))
                fn = ctx.program.functions[key]
                yield _call_finding(self, ctx, key, w,
                                    f"{callee_words(ctx, w)} must not run in a coroutine, but "
                                    f"{fn.name}() calls it in coroutine context (call its "
                                    f"coroutine_fn counterpart)",
                                    first=f"{fn.name}() runs in coroutine context")


class GraphLockRequired(Rule):
    code = "QL303"
    name = "graph-lock-required"
    summary = "a GRAPH_RDLOCK/GRAPH_WRLOCK function is reached without the graph lock"
    level = "error"
    tags = ("concurrency", "locking", "graph-lock")

    @classmethod
    def inactive_reason(cls, pack) -> str:
        return _inactive(pack, "requires", "lock")

    def check(self, ctx):
        for key, lock, w in _unprovided(ctx, "lock"):
            fn = ctx.program.functions[key]
            yield _call_finding(self, ctx, key, w,
                                f"{callee_words(ctx, w)} requires {lock}, which {fn.name}() "
                                f"neither holds nor declares ({suggestion(ctx, lock)})")
        yield from self._callbacks(ctx)

    def _callbacks(self, ctx):
        """An annotated function registered as a callback: nothing holds the lock when it runs."""
        kinds = ctx.pack.section_kinds()
        for entry in ctx.locks.entry_points():
            fn = ctx.program.functions[entry.func]
            held = ctx.locks.sem.contract_holds(fn.name, ctx.program.attrs(entry.func))
            for lock in held:
                if kinds.get(lock) != "lock" or lock in entry.holds or entry.kind == "entry":
                    continue
                reg = entry.registration
                yield Finding(
                    rule=self.code, name=self.name, path=reg.file, line=reg.line,
                    column=reg.call.col, function=ctx.program.name_of(reg.caller),
                    message=(f"{fn.name}() requires {lock} but is registered as a {entry.kind} "
                             f"by {reg.api}(): nothing holds {lock} when it runs"),
                    detail=f"{fn.name}|{lock}|{entry.kind}",
                    trace=[entry_step(ctx, entry)],
                    related=registration_related(ctx, entry) +
                    [Related(fn.file, fn.line, f"{fn.name}() declared to require {lock}")],
                    level=self.level)


class MissingAnnotation(Rule):
    code = "QL304"
    name = "missing-annotation"
    summary = "a function only runs where an annotation's promise holds but lacks the annotation"
    level = "note"
    tags = ("coroutines", "graph-lock", "annotations")
    precision = "medium"

    @classmethod
    def inactive_reason(cls, pack) -> str:
        return "" if pack.contracts else "no active [[contract]] entry"

    def check(self, ctx):
        done = set()
        for section_kind in ("context", "lock"):
            for key, lock, w in _attribute_witnesses(ctx, "requires", section_kind):
                if (key, lock) in done:
                    continue
                way = runs_only_with(ctx, key, lock)
                if way is None:
                    continue
                done.add((key, lock))
                yield self._suggest(ctx, key, lock, w, way)

    def _suggest(self, ctx, key, lock, w, way) -> Finding:
        fn = ctx.program.functions[key]
        annotation = suggestion(ctx, lock)
        kind, what = way
        if kind == "call":
            caller = ctx.program.functions[what.caller]
            first = Step(caller.name, caller.file, what.call.line,
                         f"calls {fn.name}() with {lock} provided", what.call.col)
            origin = f"its callers provide it (e.g. {caller.name}())"
        else:
            first = entry_step(ctx, what)
            origin = f"it runs as a {what.kind}"
        needed = lock.replace("-", " ") if ctx.pack.section_kinds().get(lock) == "context" else lock
        message = (f"{fn.name}() calls {callee_words(ctx, w)}, which needs {needed}, and "
                   f"{origin}: declare {fn.name}() {annotation}")
        return Finding(rule=self.code, name=self.name, path=fn.file, line=fn.line, column=fn.col,
                       function=fn.name, message=message, detail=f"{lock}|{annotation}",
                       trace=[first, Step(fn.name, fn.file, w.call.line,
                                          f"calls {w.required}()", w.call.col)],
                       level=self.level)


def _inactive(pack, kind: str, section_kind: str) -> str:
    kinds = pack.section_kinds()
    if any(r.attribute and r.kind == kind and kinds.get(r.lock) == section_kind
           for r in pack.requirements):
        return ""
    kinds.update((item.name, item.kind) for item, _w in pack.inactive
                 if item.origin.table in ("lock", "context", "section"))
    why = [w for item, w in pack.inactive if item.origin.table == kind and item.attribute and
           item.kind == kind and kinds.get(item.lock) == section_kind]
    return f"no active [[{kind}]] attribute entry" + (f": {why[0]}" if why else "")
