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
from .params import stored_fields
from .sites import state_at


def find(analysis, wanted: set[Cell]):
    """The violations in the cells `wanted`, family by family: unmet requirements at entry
    points, inside functions, at calls that need an attribute's requirement, contracts at
    registrations, then the balance of sections and what spans deferrals."""
    kinds = analysis.pack.section_kinds()
    yield from _at_entry_points(analysis, kinds, wanted)
    yield from _inside_functions(analysis, kinds, wanted)
    yield from _in_helpers(analysis, kinds, wanted)
    yield from _asserted_in_context(analysis, kinds, wanted)
    yield from _by_declaration(analysis, kinds, wanted)
    yield from _passed_callbacks(analysis, kinds, wanted)
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
        assumed = stored_in_argument(analysis, entry)
        for table in ("requires", "excludes"):
            for lock in sorted(getattr(summary, table)):
                if (table == "requires") == (lock in entry.holds) or lock in entry.maybe or \
                        "entry" not in _shapes(wanted, table, kinds.get(lock)):
                    continue
                for chain in analysis.chains(entry.func, lock, table, assumed=assumed):
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


def stored_in_argument(analysis, entry) -> tuple:
    """Guards on an entry point's first parameter from what its registration stored in the
    argument it passes (`s->detached = true` before qemu_thread_create(..., s, ...))."""
    reg = entry.registration
    if entry.kind == "entry" or reg is None or reg.opaque is None or reg.wrapper or \
            reg.opaque >= len(reg.call.args):
        return ()
    stored = stored_fields(analysis.program.functions[reg.caller], reg.call,
                           reg.call.args[reg.opaque].text)
    return tuple((0, (name, truth)) for name, truth in stored)


def followed(analysis, chain, table: str) -> bool:
    """Whether a chain of calls carries the requirement at its end. A contract inferred from
    the tree is carried through a call through a struct field or a
    pointer only when at least half the functions the call may reach need the lock too: what
    one implementation among many needs is no sign that this call reaches it (qemu_fclose() of
    a buffer channel is no call of the block channel's close). A contract that a pack or the
    user states, or one written on the field itself, is carried through every call."""
    last = chain[-1]
    mine = [(name, r) for name, r in met_requirements(analysis, last, table)
            if r.lock == last.lock]
    if last.by_attribute or not mine or any(r.origin is None or r.origin.pack != "inferred"
                                            for _n, r in mine):
        return True
    on_field = any(name == last.call.via for name, _r in mine)
    return all(_shared(analysis, w, table) for w in (chain[:-1] if on_field else chain)
               if w.call.via)


def behind_another(analysis, chain, table: str) -> bool:
    """Whether a chain passes, before its end, a call that needs its lock itself (a terminal
    witness of the same call): the way reaches that call's violation first, and the end's
    only through it."""
    for w in chain[:-1]:
        if any(x.terminal and x.call is w.call
               for x in getattr(analysis.summary(w.caller), table).get(w.lock, ())):
            return True
    return False


def met_requirements(analysis, w, table: str) -> list:
    """(name, Requirement) of the pack's entries a terminal witness's call meets: on what it
    calls, and on the function the requirement names where that is none of its callees (an
    action the call runs: tran_abort() running bdrv_attach_child_common_abort()), a static
    one in the caller's file first."""
    program = analysis.program
    targets = list(analysis.graph.callees(w.call))
    if w.required and w.required not in {w.call.name, w.call.via} | \
            {program.name_of(t) for t in targets}:
        keys = program.by_name.get(w.required, [])
        here = [k for k in keys if program.functions[k].file == program.functions[w.caller].file]
        targets += here or keys
    return analysis.sem.call_requirements(w.call, targets, table)


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
                tails = analysis.chains(w.target, w.lock, table, via=w)
                if tails:
                    chain += min(tails, key=len)
            cell = Cell(table, kinds.get(w.lock), _by(chain[-1]), shape)
            if cell in wanted and cell != HELPER and followed(analysis, chain, table):
                yield Violation(cell, key, witness=w, chain=chain, lock=w.lock)


# A context's exclusion by an attribute (no_coroutine_fn), reached from a function that holds
# the context (a coroutine_fn) through functions that declare nothing: reported in the helper
# that makes the call, where the context flows down to it.
HELPER = Cell("excludes", "context", "attribute", "inherited")


def _in_helpers(analysis, kinds, wanted):
    """The calls of functions an attribute excludes from a context (no_coroutine_fn) made by
    helpers that run in it: one violation per call, with the path from the function that
    holds the context (others that reach it come along). A helper that only some callers run
    in the context may call a function that tests the context itself (coroutine_mixed_fn)."""
    if HELPER not in wanted:
        return
    reached: dict[tuple, list] = {}
    for key in sorted(analysis.summaries):
        for local in analysis.summaries[key].local:
            w = local.witness
            if local.kind != "held" or w.terminal or kinds.get(w.lock) != "context":
                continue
            for tail in analysis.chains(w.target, w.lock, "excludes"):
                last = tail[-1]
                if last.by_attribute and analysis.follows(w, tail[0]):
                    where = (last.caller, last.call.line, last.call.col, last.required, w.lock)
                    reached.setdefault(where, []).append((key, [w] + tail))
    for (*_where, lock), ways in reached.items():
        helper = ways[0][1][-1].caller
        every = runs_under(analysis, helper, lock, set())
        if not every:
            if _tests_the_context(analysis, ways[0][1][-1]):
                continue
            # Only some callers run in the context: the path is the evidence, and a call
            # through a struct field may reach any function stored there (every device's
            # MemoryRegionOps.write), not the one this path would: such paths prove nothing.
            ways = [(k, c) for k, c in ways if not _through_fields(c)]
            if not ways:
                continue
        ways.sort(key=lambda kc: (len(kc[1]), kc[0]))
        origin, chain = ways[0]
        yield Violation(HELPER, helper, witness=chain[-1], chain=chain, lock=lock,
                        origin=origin, every=every,
                        others=sorted({k for k, _c in ways[1:]} - {origin}))


def _asserted_in_context(analysis, kinds, wanted):
    """A function that answers for a context itself (coroutine_mixed_fn) and asserts a lock it
    does not hold (QEMU 10.0's generated co_wrapper_mixed_bdrv_rdlock wrappers call
    assume_graph_lock() where qemu_in_coroutine() is true), reached in that context from a
    function that holds the context (a coroutine_fn) on a way where nothing holds or declares
    the lock: what it asserts is false there. The ways are those the context's exclusion
    takes (the wrappers are no_coroutine_fn too), without calls through struct fields (any
    function stored there, not the one the way would reach). One violation per call of the
    function that holds the context; none where every way into it provides the lock."""
    if not any(c.shape == "asserted" for c in wanted):
        return
    asserting = _asserting(analysis)
    found: dict[tuple, tuple] = {}
    tails: dict[tuple, list] = {}
    for key in sorted(analysis.summaries):
        for local in analysis.summaries[key].local:
            w = local.witness
            if local.kind != "held" or kinds.get(w.lock) != "context":
                continue
            for chain in _ways_down(analysis, w, tails):
                for target in _reached(analysis, chain[-1]):
                    if w.lock not in analysis.sem.contract_accepts(
                            analysis.program.name_of(target), analysis.sem.caller_attrs(target)):
                        continue
                    for lock, assertion in asserting.get(target, ()):
                        cell = Cell("requires", kinds.get(lock), "attribute", "asserted")
                        if cell not in wanted or _provided_on(analysis, chain, lock, target):
                            continue
                        rank = (len(chain), analysis.program.name_of(target), target)
                        where = (key, id(w.call), lock)
                        if where not in found or rank < found[where][0]:
                            found[where] = (rank, cell, chain, target, assertion, w.lock)
    for (key, _call, lock), (_rank, cell, chain, target, assertion, context) in found.items():
        if not _every_caller_holds(analysis, key, lock):
            yield Violation(cell, key, witness=chain[0], chain=chain, lock=lock,
                            context=context, asserting=target, assertion=assertion)


def _asserting(analysis) -> dict[str, list]:
    """Function key -> [(lock, call)]: the calls by which it asserts a lock (Semantics.asserted)
    on a path that does not hold it, unless the callee really takes it (see
    LockAnalysis.apply_call)."""
    out: dict[str, list] = {}
    for key in sorted(analysis.summaries):
        fn = analysis.program.functions[key]
        held_at = analysis.summaries[key].held_at
        for _b, _i, call in analysis.calls(fn):
            for lock in analysis.sem.asserted(call):
                taken = any(section == lock and delta > 0 for t in analysis.graph.callees(call)
                            for section, delta in analysis.summary(t).effect)
                if not taken and lock not in state_at(held_at, call)[0]:
                    out.setdefault(key, []).append((lock, call))
    return out


def _ways_down(analysis, w, tails: dict):
    """The chains from a call in a function that holds a context down to the calls its
    exclusion reaches, without calls through struct fields; `tails` keeps each callee's."""
    if w.call.through_field:
        return
    if w.terminal:
        yield [w]
        return
    found = tails.get((w.target, w.lock))
    if found is None:
        found = tails[(w.target, w.lock)] = [
            t for t in analysis.chains(w.target, w.lock, "excludes") if not _through_fields(t)]
    for tail in found:
        if analysis.follows(w, tail[0]):
            yield [w] + tail


def _every_caller_holds(analysis, key: str, lock: str) -> bool:
    """Whether every known way into `key` provides `lock`: each caller holds it at the call
    (or declares it), each registration's kind holds it. The function then runs with the lock
    and only lacks its declaration."""
    graph = analysis.graph
    ways = graph.callers_of(key)
    if any(not _holds_at(analysis, edge.caller, edge.call, key, lock) for edge in ways):
        return False
    registered = graph.registered.get(key, ())
    if any(lock not in analysis.pack.entry_holds(reg.kind) for reg in registered):
        return False
    return bool(ways or registered)


def _reached(analysis, w) -> list[str]:
    """The functions a terminal witness's call reaches."""
    return list(analysis.graph.callees(w.call)) or \
        list(analysis.program.by_name.get(w.required, ()))


def _provided_on(analysis, chain, lock: str, target: str) -> bool:
    """Whether a step of the chain provides `lock` to its call (`target`: what the last reaches)."""
    return any(_holds_at(analysis, w.caller, w.call, w.target or target, lock) for w in chain)


def _holds_at(analysis, caller: str, call, callee: str, lock: str) -> bool:
    """Whether `caller` holds `lock` at `call` on every path to it, or declares it, or the call
    provides it to `callee` (an API that runs it under the lock)."""
    program = analysis.program
    return lock in state_at(analysis.summary(caller).held_at, call)[0] or \
        lock in analysis.sem.contract_holds(program.name_of(caller), program.attrs(caller)) or \
        lock in analysis.graph.provided(call, callee)


def _through_fields(chain) -> bool:
    """Whether a chain of calls goes through a struct field's function pointer."""
    return any(w.call.through_field for w in chain)


def _tests_the_context(analysis, w) -> bool:
    """Whether the excluded callee answers for the context itself (coroutine_mixed_fn: it
    tests qemu_in_coroutine() and calls its coroutine_fn counterpart)."""
    targets = [w.target] if w.target else [w.call.callee] if w.call.callee else \
        analysis.program.by_name.get(w.required, [])
    return any(w.lock in analysis.sem.contract_accepts(analysis.program.name_of(t),
                                                       analysis.sem.caller_attrs(t))
               for t in targets)


def runs_under(analysis, key: str, lock: str, seen: set) -> bool:
    """Whether every known way into `key` holds `lock` (a context): each caller holds it at
    the call, or passes the exclusion on and runs under it itself; each registration's kind
    holds it. False where a way does not, or none is known."""
    graph = analysis.graph
    seen.add(key)
    ways = 0
    for edge in graph.callers_of(key):
        caller = analysis.summary(edge.caller)
        ways += 1
        if any(local.kind == "held" and local.witness.call is edge.call and
               local.witness.lock == lock for local in caller.local):
            continue
        passes_on = any(w.call is edge.call for w in caller.excludes.get(lock, ()))
        if not (passes_on and edge.caller not in seen and
                runs_under(analysis, edge.caller, lock, seen)):
            return False
    for reg in graph.registered.get(key, ()):
        ways += 1
        if lock not in analysis.pack.entry_holds(reg.kind):
            return False
    return ways > 0


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
                if not w.terminal or not w.by_attribute or (id(w.call), w.required) in seen or \
                        _through_parameter(analysis, key, w) or \
                        kinds.get(lock) == "context" and _field_of_both_kinds(analysis, w, lock):
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


def _field_of_both_kinds(analysis, w, lock: str) -> bool:
    """A call through a struct field, not declared to need a context, that holds functions
    which need it and functions which do not (HMPCommand.cmd: hmp_block_resize() is
    coroutine_fn, most commands are not, and the table's `.coroutine` flag sends each kind its
    own way): which kind a call reaches is decided by data qlint does not follow."""
    via = w.call.through_field
    if not via:
        return False
    sem, program = analysis.sem, analysis.program
    needs = [any(r.lock == lock for r in sem.attribute_requirements(sem.caller_attrs(s.func),
                                                                      "requires"))
             for s in program.field_funcs.get(via, ())]
    return any(needs) and not all(needs)


def _through_parameter(analysis, key: str, w) -> bool:
    """A call through one of the function's own parameters (`writefunc(...)`): what it needs is
    judged where the callback is passed, in the lock state there (_passed_callbacks)."""
    via = w.call.via
    return via.startswith("*") and via[1:] in analysis.program.functions[key].params


def _passed_callbacks(analysis, kinds, wanted):
    """A function that passes a callback (`qcrypto_block_create(..., hdr_write_func, ...)`)
    to a call that calls it through a parameter, where the callback's attribute requires what
    the passing function neither provides nor declares (unless every way into it does)."""
    tails: dict[tuple, list] = {}       # _passes' chains of each callee and lock, found once
    for key in sorted(analysis.summaries):
        table = analysis.summaries[key].requires
        for lock in sorted(table):
            cell = Cell("requires", kinds.get(lock), "attribute", "passed")
            if cell not in wanted:
                continue
            seen, way = set(), False
            for w in table[lock]:
                for index, func, chain in _passes(analysis, w, lock, tails):
                    if (id(w.call), func) in seen:
                        continue
                    seen.add((id(w.call), func))
                    if way is False:
                        way = runs_only_with(analysis, key, lock)
                    if not way:
                        yield Violation(cell, key, witness=w, chain=[w] + chain, lock=lock,
                                        callback=func, index=index)


def _passes(analysis, w, lock: str, tails: dict):
    """(argument index, function, chain down to the call through a parameter that needs the
    lock by an attribute) for each callback `w.call` passes that its callee calls. `tails`
    keeps those chains of each callee: most calls pass no function, and the chains below a
    callee many functions call are the same for every one (QEMU 10.0: minutes)."""
    if w.terminal or not any(arg.funcs for arg in w.call.args):
        return
    found = tails.get((w.target, lock))
    if found is None:
        found = tails[(w.target, lock)] = [
            tail for tail in analysis.chains(w.target, lock)
            if tail[-1].by_attribute and _through_parameter(analysis, tail[-1].caller, tail[-1])]
    for tail in found:
        first = tail[0]
        for index, expected in first.guards:
            if isinstance(expected, str) and index < len(w.call.args) and \
                    expected in w.call.args[index].funcs and _forwards(analysis, tail, index):
                yield index, expected, tail


def _forwards(analysis, tail, index: int) -> bool:
    """Whether the parameter `index` of the chain's first function is what its last call
    calls: each call on the way passes that parameter on (`writefunc` down to
    `writefunc(...)`), not another function's callback met further down."""
    functions = analysis.program.functions
    for step in tail[:-1]:
        params = functions[step.caller].params
        if index >= len(params):
            return False
        index = next((i for i, a in enumerate(step.call.args) if a.text == params[index]), None)
        if index is None:
            return False
    params = functions[tail[-1].caller].params
    return index < len(params) and tail[-1].call.via == "*" + params[index]


def runs_only_with(analysis, key: str, lock: str):
    """The first way `key` is entered, if every way provides `lock` (callers hold it at the
    call, registrations' kinds hold it): ("call", CallEdge), ("registration" | "entry",
    EntryPoint). None if some way does not, or none is known."""
    graph, pack = analysis.graph, analysis.pack
    if analysis.sem.is_boundary(analysis.program.name_of(key)):
        return None          # its callers do not inherit what it needs: no evidence they hold it
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
