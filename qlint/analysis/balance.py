"""Violations of the balance of sections (locks are sections of kind "lock"), and of what must
span a deferral, found in the lock analysis's summaries (Cell: qlint/analysis/violations.py).

A function is balanced for a section when every path leaves it the same: a wrapper that opens
it on every path is a begin wrapper, its callers are checked instead. Violations:
  * "paths": paths that differ: some path returns with the section open, or closes one it
    never opened, while other paths do not;
  * "twice": a path that closes again what it already closed;
  * "entry-point": an entry point (a callback) that leaves a section open on every path, or
    closes one that its kind does not hold and nobody handed to it;
  * "handoff": a deferred callback that does not close, on every path, the sections its
    deferring function handed over (still open at the deferral);
  * "deferral" ([[across-deferral]]): a section open across a deferral without the section
    the pack requires for that span, or with one the callback ends first.
"""
from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from .cells import ENDED, Cell, Violation
from .paths import contradicts, instance_effect, net_effect


def balance_violations(analysis, kinds, wanted):
    """Per function (in key order): paths that differ, then sections closed twice; then entry
    points; then handoffs to deferred callbacks."""
    own = [k for k in ENDED if any(c.table == k and c.kind == k for c in wanted)]
    if not own:
        return
    handed_over = handoffs(analysis)
    handed = _handed_sections(handed_over)
    for key in sorted(analysis.summaries):
        summary = analysis.summaries[key]
        for kind in own:
            # A deferred callback's handed sections are checked as handoffs.
            mine = lambda s, k=kind, h=handed.get(key, ()): kinds.get(s) == k and s not in h  # noqa: E731
            if summary.explorer is not None and Cell(kind, kind, "", "paths") in wanted:
                for found in _paths_differ(analysis, key, summary, mine, kind == "section"):
                    yield Violation(Cell(kind, kind, "", "paths"), key, summary=summary, **found)
            if Cell(kind, kind, "", "twice") in wanted:
                for found in _closed_twice(analysis, key, summary, mine):
                    yield Violation(Cell(kind, kind, "", "twice"), key, summary=summary, **found)
    for kind in own:
        mine = lambda s, k=kind: kinds.get(s) == k  # noqa: E731
        if Cell(kind, kind, "", "entry-point") in wanted:
            for entry, section, delta in _entry_points(analysis, mine, handed):
                yield Violation(Cell(kind, kind, "", "entry-point"), entry.func, entry=entry,
                                section=section, delta=delta,
                                summary=analysis.summary(entry.func))
        if Cell(kind, kind, "", "handoff") in wanted:
            for handoff, summary, open_paths in _unclosed(analysis, handed_over, mine):
                yield Violation(Cell(kind, kind, "", "handoff"), handoff.callback,
                                handoff=handoff, summary=summary, open_paths=open_paths)


def _paths_differ(analysis, key, summary, mine, per_instance: bool):
    """Paths that leave a section (for locks: a lock class, whose spellings vary; for
    sections: one instance, as several are open at once) differently: the shortest odd one."""
    fn = analysis.program.functions[key]
    exits = [(node, st) for node, st in summary.exits if not st.widened]
    nets = [(_effects(st, per_instance), node, st) for node, st in exits]
    looped = analysis.sections_in_loops(fn)
    for section_key in sorted({k for d, _n, _st in nets for k in d if mine(k[0])}):
        values = {d.get(section_key, 0) for d, _n, _st in nets}
        # Only a function that opens and closes the section on one of its paths owns it:
        # wrappers (`if (s->ctx) acquire`), flag dispatchers and the halves of QEMU's
        # transaction actions (prepare begins, clean ends) are balanced by their callers.
        # Counts that depend on a loop's trip count say nothing.
        # A function that takes and releases it itself but not on one path (releases first,
        # takes again) is such a wrapper too, unless nothing can check it in its stead.
        if len(values) < 2 or section_key[0] in looped:
            continue
        owned = _owned(section_key, exits)
        if not owned and not _pairs_itself_unwrapped(analysis, fn, section_key[0]):
            continue
        normal = 0 if 0 in values else min(values, key=abs)
        odd = [(d.get(section_key, 0), n, st) for d, n, st in nets
               if d.get(section_key, 0) != normal]
        net, node, state = min(odd, key=lambda o: (len(summary.explorer.path(o[1])), o[1]))
        yield dict(key=section_key, net=net, node=node, state=state, owned=owned)


def _closed_twice(analysis, key, summary, mine):
    fn = analysis.program.functions[key]
    seen = set()
    for _kind, node, call, section, first in summary.problems:
        if not mine(section) or (id(call), section) in seen or \
                section in analysis.sections_in_loops(fn):
            continue
        seen.add((id(call), section))
        yield dict(node=node, call=call, section=section, first=first)


def _entry_points(analysis, mine, handed):
    done = set()
    for entry in analysis.entry_points():
        summary = analysis.summary(entry.func)
        if not summary.consistent or not summary.exits:
            continue
        for section, delta in summary.effect:
            if not mine(section) or (entry.func, section) in done:
                continue
            if delta < 0 and (section in entry.holds or section in entry.maybe or
                              section in handed.get(entry.func, ())):
                continue
            done.add((entry.func, section))
            yield entry, section, delta


def _unclosed(analysis, handed_over, mine):
    for handoff in handed_over:
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
        yield handoff, summary, open_paths


def deferral_violations(analysis, kinds, wanted):
    """[[across-deferral]]: at each handoff of a section an entry names, the section that
    must span the deferral is not open ("missing"), or the callback ends it first ("early")."""
    done = set()
    for handoff in handoffs(analysis):
        cell = Cell("across-deferral", kinds.get(handoff.section), "", "deferral")
        if cell not in wanted:
            continue
        for rule in analysis.pack.across_deferral:
            if rule.section != handoff.section or rule.exempt(handoff.state.conds):
                continue
            key = (id(handoff.call), handoff.callback, rule.section, rule.requires)
            if key in done:
                continue
            problem = _spanned(analysis, handoff, rule)
            if problem:
                done.add(key)
                yield Violation(cell, handoff.owner, handoff=handoff, rule=rule, problem=problem)


def _spanned(analysis, handoff, rule) -> str:
    if not any(s == rule.requires for s, _i, _c, _l in handoff.state.held):
        return "missing"
    end_section = first_end(analysis, handoff.callback, rule.section)
    end_required = first_end(analysis, handoff.callback, rule.requires)
    if end_required and end_section and end_required[0] < end_section[0]:
        return "early"
    return ""


class Handoff(NamedTuple):
    """A section open (begun by `owner` at line `begin`) at a deferral that hands it to
    `callback`."""
    owner: str
    call: object
    state: object
    callback: str
    section: str
    begin: int


def handoffs(analysis) -> list[Handoff]:
    """Every section handed to a deferred callback, once per deferral, callback and section."""
    out, seen = [], set()
    for key in sorted(analysis.summaries):
        for _node, call, state, callbacks in analysis.summaries[key].handoffs:
            for func in callbacks:
                for target in analysis.program.targets_of_key(func):
                    for section, _ident, _count, begin in state.held:
                        ident = (id(call), target, section)
                        if ident not in seen:
                            seen.add(ident)
                            out.append(Handoff(key, call, state, target, section, begin))
    return out


def _handed_sections(handed_over) -> dict[str, set]:
    handed = defaultdict(set)
    for h in handed_over:
        handed[h.callback].add(h.section)
    return handed


def _effects(st, per_instance: bool) -> dict:
    return instance_effect(st) if per_instance else {(s, None): n for s, n in net_effect(st)}


def _owned(key, exits) -> bool:
    """Does some path both begin and end this section (instance)?"""
    section, ident = key
    return any(t[0] == section and t[2] and (ident is None or t[1] == ident)
               for _n, st in exits for t in st.touched)


def _pairs_itself_unwrapped(analysis, fn, section: str) -> bool:
    """Whether `fn` both takes (directly, by a trylock, or by a call whose result tells) and
    releases `section` itself, and has no caller to be checked instead: nothing in the
    program calls it, or it is an entry point."""
    takes = releases = False
    for _b, _i, call in analysis.calls(fn):
        for op in analysis.sem.section_ops(call):
            if op.section == section:
                takes |= op.op in ("begin", "try")
                releases |= op.op == "end"
        takes |= any(change[0] == section for side in analysis.told(analysis.graph.callees(call))
                     for change in side)
    if not (takes and releases):
        return False
    return not analysis.graph.callers_of(fn.key) or \
        any(e.func == fn.key for e in analysis.entry_points())


def first_end(analysis, key: str, section: str):
    """(line, file) of the first call in `key` that ends `section`, directly or through a
    callee that ends it on every path."""
    fn = analysis.program.functions.get(key)
    if fn is None:
        return None
    for _b, _i, call in sorted(analysis.calls(fn), key=lambda c: (c[2].line, c[2].col)):
        if any(op.op == "end" and op.section == section for op in analysis.sem.section_ops(call)):
            return call.line, fn.file
        if any(dict(analysis.summary(t).effect).get(section, 0) < 0
               for t in analysis.graph.callees(call)):
            return call.line, fn.file
    return None
