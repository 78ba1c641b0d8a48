"""The parts of a finding's trace and related locations that several rules share: an entry
point's first step and registration, the chain of calls to a violating call, a path's branch
decisions and where it returns, and how a callee is named."""
from __future__ import annotations

import re

from ..analysis.violations import behind_another
from ..facts.ir import EXIT, Return
from ..report.model import Related, Step

MAX_RELATED = 20            # other entry points listed with a finding
MAX_DECISIONS = 12          # branch decisions listed in a trace


def entry_step(ctx, entry) -> Step:
    fn = ctx.program.functions[entry.func]
    reg = entry.registration
    if entry.kind == "entry":
        note = f"entry point: {_named(reg)} (holds {locks(entry.holds)})"
        return Step(fn.name, fn.file, fn.line, note)
    via = f" through {reg.wrapper}()" if reg.wrapper else ""
    where = ctx.program.functions[reg.caller]
    note = (f"entry point: {entry.kind} registered by {reg.api}(){via} in {where.name}(), "
            f"line {reg.line} (holds {locks(entry.holds)})")
    return Step(fn.name, fn.file, fn.line, note)


def _named(entry) -> str:
    """What a pack's [[entry]] says of the functions it names."""
    return entry.description or "declared root"


def registration_related(ctx, entry, also: bool = False) -> list[Related]:
    """Where the entry point comes from: its registration, or for another entry point that a
    pack names (a QMP handler), its definition. The finding's own named entry point is its
    trace's first step."""
    reg = entry.registration
    name = ctx.program.name_of(entry.func)
    if entry.kind == "entry":
        if not also or reg is None:
            return []
        fn = ctx.program.functions[entry.func]
        return [Related(fn.file, fn.line, f"also reached from {name}(), entry point: {_named(reg)}",
                        fn.col)]
    if reg is None:
        return []
    lead = "also reached from " if also else ""
    return [Related(reg.file, reg.line,
                    f"{lead}{name}() registered as {entry.kind} by {reg.api}()", reg.call.col)]


def every_way(ctx, found, table: str) -> list[Related]:
    """Where each entry point of `found` ((entry, chain) pairs) that reaches the violation
    directly comes from, not through another violating call of its chain: the whole list
    that also_reached() cuts at MAX_RELATED, less the ways another finding owns."""
    ways = {(w.message, w.path, w.line): w for e, chain in found
            if not behind_another(ctx.locks, chain, table)
            for w in registration_related(ctx, e, also=True)}
    return [ways[k] for k in sorted(ways)]


def also_reached(ctx, entry, others) -> list[Related]:
    """Where the other entry points that reach the same call come from (at most MAX_RELATED
    locations in all, with the first entry point's own): registered callbacks first, then
    the functions a pack names (a QMP handler's is the usual way in, a BH's the easy one to
    miss)."""
    related = registration_related(ctx, entry)
    seen = {(entry.func, entry.kind)}
    for other, _chain in sorted(others, key=lambda found: found[0].kind == "entry"):
        if (other.func, other.kind) not in seen and len(related) < MAX_RELATED:
            seen.add((other.func, other.kind))
            related += registration_related(ctx, other, also=True)
    return related


def call_steps(ctx, chain, last_note: str) -> list[Step]:
    steps = []
    for i, w in enumerate(chain):
        fn = ctx.program.functions[w.caller]
        callee = w.required if w.terminal else ctx.program.name_of(w.target)
        how = _through(w.call, callee)
        note = last_note if i == len(chain) - 1 else f"calls {callee}(){how}"
        steps.append(Step(fn.name, fn.file, w.call.line, note, w.call.col))
    return steps


def _through(call, callee: str) -> str:
    """How a call reaches `callee` when it does not name it: a struct field, a pointer, or an
    API that runs it (qemu_coroutine_enter)."""
    if call.via.startswith("*"):
        return f" through pointer {call.via[1:]}" if call.name != callee else ""
    if call.via:
        return f" through {call.via}"
    return f" through {call.name}()" if call.name != callee else ""


def locks(names) -> str:
    return ", ".join(names) if names else "no lock"


def exit_of(fn, explorer, node) -> tuple[int, int]:
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


def decisions(fn, explorer, node, since: int) -> list[Step]:
    """The branch decisions on the path to `node` made at or after line `since`."""
    steps = []
    for edge in explorer.path(node):
        if edge.cond and edge.value and edge.line >= since and edge.target != EXIT:
            steps.append(Step(fn.name, fn.file, edge.line, f"takes {edge.cond} → {edge.value}"))
    if len(steps) > MAX_DECISIONS:
        steps = steps[:MAX_DECISIONS // 2] + steps[-MAX_DECISIONS // 2:]
    return steps


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
    via = w.call.through_field
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


def where_changed(ctx, fn, line: int, section: str, delta: int) -> tuple[int, list]:
    """(column, [f, g]) of the call at `line` that opened (delta > 0) or closed `section`:
    when it is a wrapper's, the functions called down to the one that does it."""
    analysis = ctx.locks
    calls = sorted((c for _b, _i, c in analysis.calls(fn) if c.line == line),
                   key=lambda c: c.col)
    for call in calls:
        if any(op.section == section for op in analysis.sem.section_ops(call)):
            return call.col, []
    for call in calls:
        chain = _changer(ctx, call, section, delta, set())
        if chain:
            return call.col, chain
    return (calls[0].col if calls else 0), []


def _changer(ctx, call, section: str, delta: int, seen: set) -> list[str]:
    """The functions from `call` down to the one that opens/closes `section` by itself."""
    analysis = ctx.locks
    for target in ctx.graph.callees(call):
        summary = analysis.summary(target)
        changes = [d for s, d in summary.changes() if s == section]
        if target in seen or not any((d > 0) == (delta > 0) for d in changes):
            continue
        seen.add(target)
        fn = ctx.program.functions[target]
        for _b, _i, inner in analysis.calls(fn):
            if any(op.section == section and op.counts
                   for op in analysis.sem.section_ops(inner)):
                return [target]
            deeper = _changer(ctx, inner, section, delta, seen)
            if deeper:
                return [target] + deeper
    return []


def changed_by(ctx, chain: list) -> str:
    """", by f() → g()" for a wrapper chain, "" for none."""
    return ", by " + " → ".join(f"{ctx.program.name_of(k)}()" for k in chain) if chain else ""


def instance_words(ctx, fn, line: int, section: str) -> str:
    """The instance a call at `line` of `fn` opened or closed, in words, where a lock or
    section operation names it: " q->lock" for the lock itself (`qemu_mutex_lock(&q->lock)`),
    " of s->aio_context" for the object whose lock it is; "" where a wrapper did it."""
    for _b, _i, call in ctx.locks.calls(fn):
        if call.line != line:
            continue
        for op in ctx.locks.sem.section_ops(call):
            if op.section == section and op.arg and op.counts:
                text = " ".join(op.arg.split())
                return f" {text[1:]}" if text.startswith("&") else f" of {text}"
    return ""


def required_words(ctx, lock: str, witness) -> str:
    """What a terminal witness's call requires, naming the instance where its [[requires]]
    says which (`instance = "bdrv_get_aio_context(@0)"`): "the AioContext lock of
    bdrv_get_aio_context(child_bs)"; else the lock's name."""
    for r in ctx.pack.requirements:
        if r.instance and r.lock == lock and r.function == witness.required:
            args = witness.call.args
            text = re.sub(r"@(\d+)", lambda m: args[int(m.group(1))].text
                          if int(m.group(1)) < len(args) else m.group(0), r.instance)
            return f"the {lock} lock of {text}"
    return lock
