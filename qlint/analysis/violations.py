"""The violations the lock analysis finds: `find()` walks its results once and yields the
violations of the cells asked for (qlint/analysis/cells.py), family by family, in a fixed
order. Which rule reports which cell is the rules' business (qlint/rules/dispatch.py).

This module: requirements unmet at entry points, inside functions, at calls that need what an
attribute requires, and contracts at registrations; balance.py: the balance of sections and
what must span a deferral."""
from __future__ import annotations

from .balance import balance_violations, deferral_violations
from .cells import Cell, Violation
from .locks import EntryPoint


def find(analysis, wanted: set[Cell]):
    """The violations in the cells `wanted`, family by family: unmet requirements at entry
    points, inside functions, at calls that need an attribute's requirement, contracts at
    registrations, then the balance of sections and what spans deferrals."""
    kinds = analysis.pack.section_kinds()
    yield from _at_entry_points(analysis, kinds, wanted)
    yield from _inside_functions(analysis, kinds, wanted)
    yield from _by_declaration(analysis, kinds, wanted)
    yield from _at_registrations(analysis, kinds, wanted)
    yield from balance_violations(analysis, kinds, wanted)
    yield from deferral_violations(analysis, kinds, wanted)


def _shapes(wanted, table: str, kind: str) -> set[str]:
    return {c.shape for c in wanted if c.table == table and c.kind == kind}


def _by(witness) -> str:
    return "attribute" if witness.by_attribute else "name"


def _at_entry_points(analysis, kinds, wanted):
    """One violation per violating call; the best entry point's chain leads to it, the other
    entry points that reach the same call come along (`others`)."""
    candidates: dict[tuple, list] = {}
    for entry in analysis.entry_points():
        summary = analysis.summary(entry.func)
        for table in ("requires", "excludes"):
            for lock in sorted(getattr(summary, table)):
                if (table == "requires") == (lock in entry.holds) or lock in entry.maybe or \
                        "entry" not in _shapes(wanted, table, kinds.get(lock)):
                    continue
                for chain in analysis.chains(entry.func, lock, table):
                    last = chain[-1]
                    cell = Cell(table, kinds.get(lock), _by(last), "entry")
                    if cell in wanted and followed(analysis, chain, table):
                        key = (cell, last.caller, id(last.call), last.required, lock)
                        candidates.setdefault(key, []).append((entry, chain))
    for (cell, caller, _call, required, lock), found in candidates.items():
        found.sort(key=lambda ec: entry_order(*ec))
        entry, chain = found[0]
        yield Violation(cell, caller, entry=entry, chain=chain, required=required, lock=lock,
                        others=found[1:])


def followed(analysis, chain, table: str) -> bool:
    """Whether a chain of calls carries the requirement at its end. A contract inferred from
    the tree is carried through a call through a struct field or a
    pointer only when at least half the functions the call may reach need the lock too: what
    one implementation among many needs is no sign that this call reaches it (qemu_fclose() of
    a buffer channel is no call of the block channel's close). A contract that a pack or the
    user states, or one written on the field itself, is carried through every call."""
    last = chain[-1]
    graph = analysis.graph
    entries = analysis.sem.call_requirements(last.call, graph.callees(last.call), table)
    mine = [(name, r) for name, r in entries if r.lock == last.lock]
    if last.by_attribute or not mine or any(r.origin is None or r.origin.pack != "inferred"
                                            for _n, r in mine):
        return True
    on_field = any(name == last.call.via for name, _r in mine)
    return all(_shared(analysis, w, table) for w in (chain[:-1] if on_field else chain)
               if w.call.via)


def _shared(analysis, w, table: str) -> bool:
    """Whether at least half the functions an indirect call may reach need `w.lock`."""
    targets = analysis.graph.callees(w.call)
    if len(targets) <= 1:
        return True
    needing = sum(1 for t in targets if w.lock in getattr(analysis.summary(t), table) or
                  any(r.lock == w.lock for r in analysis.sem.pack_requirements(t, table)))
    return 2 * needing >= len(targets)


def entry_order(entry, chain) -> tuple:
    """Shortest chain first, then the registration's place in the source, then the name."""
    reg = entry.registration
    where = (reg.file, reg.line, reg.call.col) if entry.kind != "entry" and reg else ("", 0, 0)
    position = next((i for i, a in enumerate(reg.call.args) if entry.func in a.funcs), 0) \
        if entry.kind != "entry" and reg else 0
    return (len(chain), where, position, entry.func, entry.kind)


def _inside_functions(analysis, kinds, wanted):
    """Definite violations inside a function (Local): a lock it released is required at a
    call, or one it holds is excluded; at the call itself ("local") or further down the
    callee's chain ("inherited"), which is followed to the call that needs it."""
    for key in sorted(analysis.summaries):
        for local in analysis.summaries[key].local:
            w = local.witness
            table = "requires" if local.kind == "released" else "excludes"
            shape = "local" if w.terminal else "inherited"
            if shape not in _shapes(wanted, table, kinds.get(w.lock)):
                continue
            chain = [w]
            if not w.terminal:
                tails = analysis.chains(w.target, w.lock, table)
                if tails:
                    chain += min(tails, key=len)
            cell = Cell(table, kinds.get(w.lock), _by(chain[-1]), shape)
            if cell in wanted and followed(analysis, chain, table):
                yield Violation(cell, key, witness=w, chain=chain, lock=w.lock)


def _by_declaration(analysis, kinds, wanted):
    """Calls that need what an attribute requires (a coroutine_fn, a GRAPH_RDLOCK function),
    in functions that do not hold it by their own contract: "undeclared" unless every way
    into the function provides it, then "annotatable" (once per function and lock)."""
    for key in sorted(analysis.summaries):
        table = analysis.summaries[key].requires
        for lock in sorted(table):
            shapes = _shapes(wanted, "requires", kinds.get(lock)) & {"undeclared", "annotatable"}
            if not shapes:
                continue
            seen, way = set(), False
            for w in table[lock]:
                if not w.terminal or not w.by_attribute or (id(w.call), w.required) in seen:
                    continue
                seen.add((id(w.call), w.required))
                if way is False:
                    way = runs_only_with(analysis, key, lock)
                shape = "annotatable" if way else "undeclared"
                if shape in shapes:
                    yield Violation(Cell("requires", kinds.get(lock), "attribute", shape), key,
                                    witness=w, lock=lock, way=way)
                if way:
                    break


def runs_only_with(analysis, key: str, lock: str):
    """The first way `key` is entered, if every way provides `lock` (callers hold it at the
    call, registrations' kinds hold it): ("call", CallEdge), ("registration" | "entry",
    EntryPoint). None if some way does not, or none is known."""
    graph, pack = analysis.graph, analysis.pack
    ways = []
    for edge in graph.callers_of(key):
        caller = analysis.summary(edge.caller)
        if any(w.target == key and w.call is edge.call for w in caller.requires.get(lock, ())):
            return None
        ways.append(("call", edge))
    for reg in graph.registered.get(key, ()):
        holds = pack.entry_holds(reg.kind)
        if lock not in holds:
            return None
        ways.append(("registration", EntryPoint(reg.func, reg.kind, holds, reg)))
    for entry in analysis.entry_points():
        if entry.func == key and entry.kind == "entry":
            if lock not in entry.holds:
                return None
            ways.append(("entry", entry))
    return ways[0] if ways else None


def _at_registrations(analysis, kinds, wanted):
    """A function whose contract lets it assume a lock, registered as a callback of a kind
    that does not hold it: nothing provides the lock when it runs."""
    program = analysis.program
    for entry in analysis.entry_points():
        if entry.kind == "entry":
            continue
        fn = program.functions[entry.func]
        for lock in analysis.sem.contract_holds(fn.name, program.attrs(entry.func)):
            cell = Cell("contract", kinds.get(lock), "", "registration")
            if lock not in entry.holds and cell in wanted:
                yield Violation(cell, entry.func, entry=entry, lock=lock)
