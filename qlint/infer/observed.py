"""Observed contracts: what a function's call sites show (Engler et al., "Bugs as Deviant
Behavior", SOSP 2001). When a lock is held at (nearly) every call site of a function whose lock
state is known, the function is inferred to need it, with a confidence from the counts; the
sites that do not hold it are the deviants, which the check then reports.

A site's lock state is what the paths of its function reach it with (analysis/sites.py): held
on every path, released there, or, when the function does not change the lock, whatever holds
at the function's entry, which its own callers and registrations decide. That is counting
through wrappers: a helper that takes no lock passes on its callers' state. Calls through
struct fields and function pointers are sites of every function they reach, and a registration
is a way in with its entry kind's locks.

Engler et al. rank by how far a function's share of sites that hold the lock stands above a
base rate (their z-statistic). Here the base rate is the lock's own: the share of the counted
sites of all other functions that hold it (the BQL is held at most sites of the main loop's code, so
that most sites of a function hold it says little; the AioContext lock at few). The confidence
is how far the lower bound of the 95% Wilson score interval of the function's share lies above
the base rate, as a fraction of the distance from the base rate to certainty: 0 for a share no
better than any site's, 1 for certainty. It grows with the number of sites as the z-statistic
does, and compares with a threshold: with a base rate of 0.2, 0.8 takes 21 of 21 sites.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..analysis.sites import state_at
from ..pack.model import Evidence

Z = 1.96                   # 95%
MIN_SITES = 5              # fewer sites holding the lock say nothing, whatever the share
MAX_DEVIANTS = 20          # listed in the evidence


def confidence(held: int, total: int, base: float) -> float:
    """How far above the base rate the function's share of held sites surely is (0 to 1)."""
    if base >= 1:
        return 0.0
    return max(0.0, (wilson_lower(held, total) - base) / (1 - base))


def wilson_lower(held: int, total: int) -> float:
    """Lower bound of the Wilson score interval of the proportion held/total."""
    if total == 0:
        return 0.0
    p = held / total
    z2 = Z * Z
    centre = p + z2 / (2 * total)
    spread = Z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total))
    return (centre - spread) / (1 + z2 / total)


@dataclass(slots=True)
class Counts:
    held: list = field(default_factory=list)       # (file, line) of sites that hold the lock
    lacking: list = field(default_factory=list)    # ... that do not, on some way in

    @property
    def total(self) -> int:
        return len(self.held) + len(self.lacking)


class EntryStates:
    """Per function, the observed locks some way into it holds, and those some way into it
    lacks (a way: a call site whose state is known, a registration, an entry point). Neither:
    no known way in."""

    def __init__(self, analysis, locks: frozenset):
        self.analysis = analysis
        self.graph = analysis.graph
        self.locks = locks
        self.holds: dict[str, set] = {}
        self.lacks: dict[str, set] = {}
        self._run()

    def _run(self) -> None:
        work = []
        for entry in self.analysis.entry_points():
            held = self.locks & set(entry.holds)
            if self._add(entry.func, held, self.locks - held - set(entry.maybe)):
                work.append(entry.func)
        while work:
            caller = work.pop()
            for edge in self.graph.edges_from.get(caller, ()):
                held, lacking = self.site(caller, edge.call, edge.callee)
                if self._add(edge.callee, held, lacking):
                    work.append(edge.callee)

    def _add(self, key: str, held, lacking) -> bool:
        holds = self.holds.setdefault(key, set())
        lacks = self.lacks.setdefault(key, set())
        before = len(holds) + len(lacks)
        holds |= held
        lacks |= lacking
        return len(holds) + len(lacks) != before

    def site(self, caller: str, call, callee: str) -> tuple[set, set]:
        """(observed locks some way to this call holds, those some way lacks)."""
        every, some, released = state_at(self.analysis.summary(caller).held_at, call)
        provided = self.graph.provided(call, callee)
        held, lacking = set(), set()
        at_entry_holds = self.holds.get(caller, ())
        at_entry_lacks = self.lacks.get(caller, ())
        for lock in self.locks:
            if lock in every or lock in provided:
                held.add(lock)
                continue
            if lock in released:
                lacking.add(lock)
            if lock in some or lock in at_entry_holds and lock not in released:
                held.add(lock)
            if lock in at_entry_lacks:       # the paths that do not take it themselves
                lacking.add(lock)
        return held, lacking


def count_sites(analysis, states: EntryStates) -> dict[tuple, Counts]:
    """(function, lock) -> the sites and registrations that hold it and those that do not.
    A site reached both ways counts as not holding it."""
    program, graph, out = analysis.program, analysis.graph, {}
    for caller in sorted(program.functions):
        fn = program.functions[caller]
        for edge in graph.edges_from.get(caller, ()):
            held, lacking = states.site(caller, edge.call, edge.callee)
            where = (fn.file, edge.call.line)
            for lock in held | lacking:
                counts = out.setdefault((edge.callee, lock), Counts())
                (counts.lacking if lock in lacking else counts.held).append(where)
    for entry in analysis.entry_points():
        reg = entry.registration
        where = (reg.file, reg.line) if entry.kind != "entry" and reg is not None else \
            (program.functions[entry.func].file, program.functions[entry.func].line)
        for lock in states.locks - set(entry.maybe):
            counts = out.setdefault((entry.func, lock), Counts())
            (counts.held if lock in entry.holds else counts.lacking).append(where)
    return out


def base_rate(sites: dict, totals: dict, key: str, lock: str) -> float:
    """The share of the sites of every other function that hold the lock."""
    held, total = totals[lock]
    mine = sites[(key, lock)]
    others = total - mine.total
    return (held - len(mine.held)) / others if others else 0.0


def lock_totals(sites: dict) -> dict[str, tuple[int, int]]:
    """Per lock, (sites that hold it, sites) over every function."""
    out: dict[str, tuple[int, int]] = {}
    for (_key, lock), counts in sites.items():
        held, total = out.get(lock, (0, 0))
        out[lock] = (held + len(counts.held), total + counts.total)
    return out


def observed_contracts(analysis, pack, min_sites: int = MIN_SITES) -> list[tuple]:
    """(function key, "requires", lock, Evidence) for each function whose known call sites
    hold an observed lock at least `min_sites` times, with the Wilson confidence. Functions
    that take the lock themselves, lock operations and boundaries are left out: what their
    callers hold is no sign of what they need."""
    observed = {o.lock: o for o in pack.observed if o.lock in analysis.sem.kinds}
    locks = frozenset(observed)
    if not locks:
        return []
    program, sem = analysis.program, analysis.sem
    operations = sem.operation_names()
    sites = count_sites(analysis, EntryStates(analysis, locks))
    totals = lock_totals(sites)
    out = []
    for (key, lock), counts in sorted(sites.items()):
        if len(counts.held) < min_sites or key not in program.functions:
            continue
        name = program.name_of(key)
        summary = analysis.summary(key)
        if not observed[lock].covers(name) or name in operations or sem.is_boundary(name) or lock in summary.begins or \
                any(section == lock for section, _delta in summary.effect):
            continue
        fn = program.functions[key]
        deviants = tuple(f"{file}:{line}" for file, line in sorted(set(counts.lacking)))
        evidence = Evidence("observed", fn.file, fn.line, "", len(counts.held), counts.total,
                            round(confidence(len(counts.held), counts.total,
                                             base_rate(sites, totals, key, lock)), 3),
                            deviants[:MAX_DEVIANTS])
        out.append((key, "requires", lock, evidence))
    return out
