"""QL102 unbalanced-lock, QL201 unbalanced-section and QL202 section-across-deferral.

A function is balanced for a section (a lock is a section of kind "lock") when every path
leaves it the same: a wrapper that opens it on every path is a begin wrapper, its callers are
checked instead. What is reported:
  * paths that differ: some path returns with the section open, or closes one it never opened,
    while other paths do not (reported with the path: its branch decisions and lines);
  * a path that closes again what it already closed;
  * an entry point (a callback) that leaves a section open on every path, or closes one that
    its kind does not hold and nobody handed to it;
  * a deferred callback that does not close, on every path, the sections its deferring
    function handed over (still open at the deferral);
  * QL202: a section open across a deferral without the section the pack requires for that
    span ([[across-deferral]]).
"""
from __future__ import annotations

from collections import defaultdict

from ..analysis.paths import contradicts, instance_effect, net_effect
from ..facts.ir import EXIT, Return
from ..report.model import Finding, Related, Step
from .base import Rule

MAX_DECISIONS = 12


class _Balance(Rule):
    section_kind = ""
    noun = {"lock": ("lock", "acquired", "released", "held"),
            "section": ("section", "begun", "ended", "open")}

    def check(self, ctx):
        kinds = ctx.pack.section_kinds()
        analysis = ctx.locks
        handed = _handed_sections(ctx)
        for key in sorted(analysis.summaries):
            summary = analysis.summaries[key]
            fn = ctx.program.functions[key]
            # A deferred callback's handed sections are checked as handoffs (_deferred).
            mine = lambda s, h=handed.get(key, ()): kinds.get(s) == self.section_kind and s not in h  # noqa: E731
            if summary.explorer is not None:
                yield from self._inconsistent(ctx, fn, summary, mine)
            yield from self._double(ctx, fn, summary, mine)
        mine = lambda section: kinds.get(section) == self.section_kind  # noqa: E731
        yield from self._entries(ctx, mine)
        yield from self._deferred(ctx, mine)

    # ---- paths that differ ------------------------------------------------------------

    def _inconsistent(self, ctx, fn, summary, mine):
        """Paths that leave a section (for locks: a lock class, whose spellings vary; for
        sections: one instance, as several are open at once) differently."""
        exits = [(node, st) for node, st in summary.exits if not st.widened]
        per_instance = self.section_kind == "section"
        nets = [(_effects(st, per_instance), node, st) for node, st in exits]
        keys = sorted({k for d, _n, _st in nets for k in d if mine(_section(k))})
        for key in keys:
            section = _section(key)
            values = {d.get(key, 0) for d, _n, _st in nets}
            # Only a function that opens and closes the section on one of its paths owns it:
            # wrappers (`if (s->ctx) acquire`), flag dispatchers and the halves of QEMU's
            # transaction actions (prepare begins, clean ends) are balanced by their callers.
            # Counts that depend on a loop's trip count say nothing.
            if len(values) < 2 or not _owned(key, exits) or section in _sections_in_loops(ctx, fn):
                continue
            normal = 0 if 0 in values else min(values, key=abs)
            odd = [(d.get(key, 0), n, st) for d, n, st in nets if d.get(key, 0) != normal]
            explorer = summary.explorer
            net, node, state = min(odd, key=lambda o: (len(explorer.path(o[1])), o[1]))
            yield self._imbalance(ctx, fn, summary, key, net, node, state)

    def _imbalance(self, ctx, fn, summary, key, net, node, state) -> Finding:
        noun, opened, closed, still = self.noun[self.section_kind]
        section, ident = key
        mine = lambda s, i: s == section and (ident is None or i == ident)  # noqa: E731
        where, col = _exit(fn, summary.explorer, node)
        if net > 0:
            line = min(l for s, i, _c, l in state.held if mine(s, i))
            message = (f"{section} {noun} {opened} at line {line} is still {still} when "
                       f"{fn.name}() returns on this path")
            first = Step(fn.name, fn.file, line, f"{section} {opened} here")
            detail = f"{section}|leak"
            related = [Related(fn.file, line, f"{section} {opened} here")]
        else:
            line = min(l for s, i, _c, l in state.below if mine(s, i))
            message = (f"{fn.name}() {closed} the {section} {noun} on this path without having "
                       f"{opened} it, unlike its other paths")
            first = Step(fn.name, fn.file, line, f"{section} {closed} here")
            detail = f"{section}|extra-end"
            related = [Related(fn.file, line, f"{section} {closed} here")]
        trace = [first] + _decisions(fn, summary.explorer, node, line) + [
            Step(fn.name, fn.file, where, f"returns with {section} {still}" if net > 0
                 else "returns")]
        return Finding(rule=self.code, name=self.name, path=fn.file, line=where, column=col,
                       function=fn.name, message=message, detail=detail, trace=trace,
                       related=related, level=self.level)

    # ---- closed twice ---------------------------------------------------------------------

    def _double(self, ctx, fn, summary, mine):
        noun, opened, closed, _still = self.noun[self.section_kind]
        seen = set()
        for _kind, node, call, section, first in summary.problems:
            if not mine(section) or (id(call), section) in seen or \
                    section in _sections_in_loops(ctx, fn):
                continue
            seen.add((id(call), section))
            before = f" (already {closed} at line {first})" if first else ""
            trace = [Step(fn.name, fn.file, first, f"{section} {closed} here")] if first else []
            trace += _decisions(fn, summary.explorer, node, 0) if summary.explorer else []
            trace.sort(key=lambda step: step.line)
            trace.append(Step(fn.name, fn.file, call.line, f"{section} {closed} again", call.col))
            yield Finding(rule=self.code, name=self.name, path=fn.file, line=call.line,
                          column=call.col, function=fn.name,
                          message=f"{section} {noun} {closed} twice on this path{before}",
                          detail=f"{section}|double|{call.name}", trace=trace, level=self.level)

    # ---- entry points ---------------------------------------------------------------------

    def _entries(self, ctx, mine):
        analysis = ctx.locks
        handed = _handed_sections(ctx)
        done = set()
        for entry in analysis.entry_points():
            summary = analysis.summary(entry.func)
            if not summary.consistent or not summary.exits:
                continue
            fn = ctx.program.functions[entry.func]
            for section, delta in summary.effect:
                if not mine(section) or (entry.func, section) in done:
                    continue
                if delta < 0 and (section in entry.holds or section in handed.get(entry.func, ())):
                    continue
                done.add((entry.func, section))
                yield self._entry_imbalance(ctx, fn, summary, entry, section, delta)

    def _entry_imbalance(self, ctx, fn, summary, entry, section, delta) -> Finding:
        noun, opened, closed, still = self.noun[self.section_kind]
        node, state = min(summary.exits, key=lambda e: (len(summary.explorer.path(e[0])), e[0]))
        where, _col = _exit(fn, summary.explorer, node)
        # Roots named by [[entry]] have the kind "entry": "an entry point", not "a entry entry".
        kind = "an entry point" if entry.kind == "entry" else f"a {entry.kind} entry point"
        if delta > 0:
            line = min(l for s, _i, _c, l in state.held if s == section)
            message = (f"{fn.name}() leaves the {section} {noun} {still} on every path, but as "
                       f"{kind} it has no caller to close it")
        else:
            line = min(l for s, _i, _c, l in state.below if s == section)
            message = (f"{fn.name}() {closed} the {section} {noun}, which {kind} does not hold "
                       f"and nobody handed to it")
        from .lock_rules import entry_step, registration_related
        trace = [entry_step(ctx, entry), Step(fn.name, fn.file, line,
                                              f"{section} {opened if delta > 0 else closed} here"),
                 Step(fn.name, fn.file, where, "returns")]
        return Finding(rule=self.code, name=self.name, path=fn.file, line=line, column=0,
                       function=fn.name, message=message,
                       detail=f"{section}|entry|{'open' if delta > 0 else 'close'}",
                       trace=trace, related=registration_related(ctx, entry), level=self.level)

    # ---- deferred callbacks ---------------------------------------------------------------

    def _deferred(self, ctx, mine):
        analysis = ctx.locks
        for handoff in _handoffs(ctx):
            if not mine(handoff.section):
                continue
            summary = analysis.summary(handoff.callback)
            exits = [(n, st) for n, st in summary.exits if not st.widened]
            if summary.explorer is None or not exits:
                closes = any(d < 0 for s, d in summary.effect if s == handoff.section)
                if closes:
                    continue
                exits = []
            # A path that contradicts the conditions under which the section was handed over
            # (`if (ctx == main) disable ... defer` / `if (ctx == main) enable`) owes nothing.
            open_paths = [(n, st) for n, st in exits
                          if dict(net_effect(st)).get(handoff.section, 0) >= 0
                          and not contradicts(handoff.state.conds, st.conds)]
            if exits and not open_paths:
                continue
            yield self._handoff_leak(ctx, handoff, summary, open_paths)

    def _handoff_leak(self, ctx, handoff, summary, open_paths) -> Finding:
        noun, opened, closed, still = self.noun[self.section_kind]
        cb = ctx.program.functions[handoff.callback]
        owner = ctx.program.functions[handoff.owner]
        some = "some of its paths" if len(open_paths) < len(summary.exits) else "any path"
        message = (f"the {handoff.section} {noun} that {owner.name}() hands to deferred "
                   f"{cb.name}() (line {handoff.call.line}) is not {closed} on {some}")
        trace = [Step(owner.name, owner.file, handoff.begin, f"{handoff.section} {opened} here"),
                 Step(owner.name, owner.file, handoff.call.line,
                      f"defers {cb.name}() with {handoff.section} {still}", handoff.call.col)]
        where, col = cb.line, cb.col
        if open_paths:
            node, _st = min(open_paths, key=lambda e: (len(summary.explorer.path(e[0])), e[0]))
            where, col = _exit(cb, summary.explorer, node)
            trace += _decisions(cb, summary.explorer, node, 0)
        trace.append(Step(cb.name, cb.file, where, f"returns with {handoff.section} {still}"))
        related = [Related(owner.file, handoff.begin, f"{handoff.section} {opened} here"),
                   Related(owner.file, handoff.call.line, f"{cb.name}() deferred here",
                           handoff.call.col)]
        return Finding(rule=self.code, name=self.name, path=cb.file, line=where, column=col,
                       function=cb.name, message=message,
                       detail=f"{handoff.section}|handed|{owner.name}", trace=trace,
                       related=related, level=self.level)


class UnbalancedLock(_Balance):
    code = "QL102"
    name = "unbalanced-lock"
    summary = "a lock is left held, or released without being held, on some path"
    level = "error"
    tags = ("concurrency", "locking")
    section_kind = "lock"


class UnbalancedSection(_Balance):
    code = "QL201"
    name = "unbalanced-section"
    summary = "a section is left open, or ended without being begun, on some path"
    level = "error"
    tags = ("concurrency", "sections")
    section_kind = "section"

    @classmethod
    def inactive_reason(cls, pack) -> str:
        if not any(s.kind == "section" for s in pack.sections):
            return "no active [[section]] entry"
        return ""


class SectionAcrossDeferral(Rule):
    code = "QL202"
    name = "section-across-deferral"
    summary = "a section stays open across a deferral without the section that must span it"
    level = "error"
    tags = ("concurrency", "sections", "event-loop")

    @classmethod
    def inactive_reason(cls, pack) -> str:
        if pack.across_deferral and pack.deferrals:
            return ""
        why = [w for item, w in pack.inactive if item.origin.table == "across-deferral"]
        if not pack.across_deferral:
            return "no active [[across-deferral]] entry" + (f": {why[0]}" if why else "")
        return "no active [[deferral]] API"

    def check(self, ctx):
        done = set()
        for handoff in _handoffs(ctx):
            for rule_ in ctx.pack.across_deferral:
                if rule_.section != handoff.section or rule_.exempt(handoff.state.conds):
                    continue
                key = (id(handoff.call), handoff.callback, rule_.section, rule_.requires)
                if key in done:
                    continue
                problem = self._problem(ctx, handoff, rule_)
                if problem:
                    done.add(key)
                    yield self._finding(ctx, handoff, rule_, problem)

    def _problem(self, ctx, handoff, rule_) -> str:
        st = handoff.state
        if not any(s == rule_.requires for s, _i, _c, _l in st.held):
            return "missing"
        end_section = _first_end(ctx, handoff.callback, rule_.section)
        end_required = _first_end(ctx, handoff.callback, rule_.requires)
        if end_required and end_section and end_required[0] < end_section[0]:
            return "early"
        return ""

    def _finding(self, ctx, handoff, rule_, problem) -> Finding:
        owner = ctx.program.functions[handoff.owner]
        cb = ctx.program.functions[handoff.callback]
        call = handoff.call
        if problem == "missing":
            message = (f"{rule_.section} is open across the deferral of {cb.name}() without "
                       f"{rule_.requires}")
        else:
            message = (f"{rule_.requires} ends in deferred {cb.name}() before {rule_.section} "
                       f"does, so it does not cover the whole span")
        related = [Related(owner.file, handoff.begin, f"{rule_.section} begins here")]
        trace = [Step(owner.name, owner.file, handoff.begin, f"{rule_.section} begins here"),
                 Step(owner.name, owner.file, call.line,
                      f"defers {cb.name}() to the main loop with {rule_.section} open", call.col)]
        end = _first_end(ctx, handoff.callback, rule_.section)
        if end:
            related.append(Related(end[1], end[0], f"{rule_.section} ends here, in {cb.name}()"))
            trace.append(Step(cb.name, end[1], end[0], f"{rule_.section} ends here"))
        return Finding(rule=self.code, name=self.name, path=owner.file, line=call.line,
                       column=call.col, function=owner.name, message=message,
                       detail=f"{rule_.section}|{rule_.requires}|{cb.name}|{problem}",
                       trace=trace, related=related, level=self.level)


# ---- shared helpers ---------------------------------------------------------------------------

class Handoff:
    """A section open (begun by `owner`) at a deferral that hands it to `callback`."""
    __slots__ = ("owner", "call", "state", "callback", "section", "begin")

    def __init__(self, owner, call, state, callback, section, begin):
        self.owner, self.call, self.state = owner, call, state
        self.callback, self.section, self.begin = callback, section, begin


def _handoffs(ctx) -> list[Handoff]:
    out, seen = [], set()
    for key in sorted(ctx.locks.summaries):
        for _node, call, state, callbacks in ctx.locks.summaries[key].handoffs:
            for func in callbacks:
                for target in ctx.program.targets_of_key(func):
                    for section, _ident, _count, begin in state.held:
                        ident = (id(call), target, section)
                        if ident not in seen:
                            seen.add(ident)
                            out.append(Handoff(key, call, state, target, section, begin))
    return out


def _handed_sections(ctx) -> dict[str, set]:
    handed = defaultdict(set)
    for h in _handoffs(ctx):
        handed[h.callback].add(h.section)
    return handed


def _effects(st, per_instance: bool) -> dict:
    return instance_effect(st) if per_instance else {(s, None): n for s, n in net_effect(st)}


def _section(key) -> str:
    return key[0]


def _owned(key, exits) -> bool:
    """Does some path both begin and end this section (instance)?"""
    section, ident = key
    return any(t[0] == section and t[2] and (ident is None or t[1] == ident)
               for _n, st in exits for t in st.touched)


def _sections_in_loops(ctx, fn) -> set[str]:
    return ctx.locks.sections_in_loops(fn)


def _first_end(ctx, key: str, section: str):
    """(line, file) of the first call in `key` that ends `section`, directly or through a
    callee that ends it on every path."""
    fn = ctx.program.functions.get(key)
    if fn is None:
        return None
    analysis = ctx.locks
    for _b, _i, call in sorted(analysis.calls(fn), key=lambda c: (c[2].line, c[2].col)):
        if any(op.op == "end" and op.section == section for op in analysis.sem.section_ops(call)):
            return call.line, fn.file
        if any(dict(analysis.summary(t).effect).get(section, 0) < 0
               for t in ctx.graph.callees(call)):
            return call.line, fn.file
    return None


def _exit(fn, explorer, node) -> tuple[int, int]:
    """(line, column) of the return statement that ends the path to `node`; the function's
    closing brace when the path falls off its end."""
    nodes = explorer.nodes
    parent = nodes[node][2]
    if parent >= 0:
        block = nodes[parent][0]
        returns = [e for e in fn.blocks[block].events if isinstance(e, Return)]
        if returns:
            return returns[-1].line, returns[-1].col
    return fn.end_line, 1


def _decisions(fn, explorer, node, since: int) -> list[Step]:
    """The branch decisions on the path to `node` made at or after line `since`."""
    steps = []
    for edge in explorer.path(node):
        if edge.cond and edge.value and edge.line >= since and edge.target != EXIT:
            steps.append(Step(fn.name, fn.file, edge.line, f"takes {edge.cond} → {edge.value}"))
    if len(steps) > MAX_DECISIONS:
        steps = steps[:MAX_DECISIONS // 2] + steps[-MAX_DECISIONS // 2:]
    return steps
