"""Asserted contracts: what a function asserts at the top of its body, before it does anything
that could change it (`GLOBAL_STATE_CODE()`, `assert(!qemu_in_coroutine())`,
`assert_bdrv_graph_readable()`), in the terms of the packs' [[asserted]] tables."""
from __future__ import annotations

from ..analysis.paths import normalize_cond
from ..facts.conditions import key as expression_key, whole
from ..facts.ir import ENTRY, EXIT, Assign, Call
from ..pack.matcher import squash
from ..pack.model import Evidence

PROLOGUE_EVENTS = 64       # an assertion further down is about that point, not the entry
_ASSERT_MACROS = ("", "assert", "g_assert", "g_assert_true", "g_assert_false")


def asserted_contracts(program, pack, sem, locks) -> list[tuple]:
    """(function key, kind, lock, Evidence) of every contract a prologue asserts."""
    conditions, calls = {}, {}
    for a in pack.asserted:
        if a.lock not in locks:
            continue
        if a.condition:
            base, positive = normalize_cond(a.condition)
            conditions.setdefault((squash(base), positive), []).append(a)
        else:
            calls.setdefault(a.call, []).append(a)
    if not conditions and not calls:
        return []
    names = {n for base, _p in conditions for n in _called_names(base)} | set(calls)
    out = []
    for key in sorted(program.functions):
        fn = program.functions[key]
        for kind, text, truth, line, macro in prologue(fn, sem, names):
            if kind == "call":
                found = [(a, f"{text}()") for a in calls.get(text, ())
                         if not sem.attribute_requirements(program.attrs(text), a.kind)]
            else:
                found = [(a, _written(text, truth, macro))
                         for a in conditions.get((squash(text), truth), ())]
            out += [(key, a.kind, a.lock, Evidence("assertion", fn.file, line, said))
                    for a, said in found]
    return out


def _called_names(condition: str) -> set[str]:
    return {part.split("(")[0].lstrip("!( ") for part in condition.split(")") if "(" in part}


def _written(condition: str, truth: bool, macro: str) -> str:
    if macro not in _ASSERT_MACROS:
        return f"{macro}()"
    spelled = "g_assert" if macro == "g_assert" else "assert"
    return f"{spelled}({'' if truth else '!'}{condition})"


def prologue(fn, sem, names) -> list[tuple]:
    """What the function's first straight-line stretch asserts: ("call", name, True, line,
    macro) for a call of one of `names`, ("condition", condition, truth, line, macro) for a
    branch whose other side does not return. It ends at the first lock operation, other
    branch, or after PROLOGUE_EVENTS events."""
    out, seen, budget = [], set(), PROLOGUE_EVENTS
    block, returning = ENTRY, None
    while block not in seen and budget > 0:
        seen.add(block)
        last = None
        for event in fn.blocks[block].events:
            budget -= 1
            if isinstance(event, Call):
                if sem.section_ops(event):
                    return out
                if event.name in names:
                    out.append(("call", event.name, True, event.line, event.macro))
                last = event
        succs = fn.blocks[block].succs
        if len(succs) == 1 and not succs[0].cond:
            block = succs[0].target
            continue
        if len(succs) != 2 or not succs[0].cond or succs[0].cond != succs[1].cond:
            return out
        if returning is None:
            returning = _returning(fn)
        live = [e for e in succs if e.target in returning]
        macro = last.macro if last is not None else ""
        if len(live) != 1:
            live, macro = _through_stored_truth(fn, succs, returning)
        if len(live) != 1:
            return out
        edge = live[0]
        base, positive = normalize_cond(edge.cond)
        if last is not None and last.name in names:
            out.append(("condition", base, positive == (edge.value == "true"), edge.line or
                        last.line, macro))
        block = edge.target
    return out


def _through_stored_truth(fn, succs, returning) -> tuple[list, str]:
    """(the side of a branch that can return, the macro that tests it) where each side only
    stores its truth in one variable and both join at a branch on it: glib's G_LIKELY() in an
    optimized build (`g_assert(expr)`: `if (expr) _g_boolean_var_ = 1; else
    _g_boolean_var_ = 0;`, then a branch on `_g_boolean_var_`, whose other side does not
    return)."""
    stored = {}
    for edge in succs:
        block = fn.blocks[edge.target]
        event = block.events[0] if len(block.events) == 1 else None
        if type(event) is not Assign or event.value is None or len(event.names) != 1 or \
                len(block.succs) != 1 or block.succs[0].cond:
            return [], ""
        stored[edge.value] = (event.names[0], block.succs[0].target, bool(event.value))
    if set(stored) != {"true", "false"} or stored["true"][:2] != stored["false"][:2] or \
            stored["true"][2] == stored["false"][2]:
        return [], ""
    var, join, _truth = stored["true"]
    tested = fn.blocks[join].cond
    if tested is None:
        return [], ""
    tree, positive = whole(tested, True)
    live = [e for e in fn.blocks[join].succs if e.target in returning]
    if expression_key(tree) != var or len(live) != 1 or live[0].value not in ("true", "false"):
        return [], ""
    truth = (live[0].value == "true") == positive
    macro = next((e.macro for e in fn.blocks[join].events if isinstance(e, Call)), "")
    return [e for e in succs if stored[e.value][2] == truth], macro


def _returning(fn) -> set[int]:
    """Blocks from which the function can return."""
    preds: dict[int, list[int]] = {}
    for index, block in enumerate(fn.blocks):
        for edge in block.succs:
            preds.setdefault(edge.target, []).append(index)
    found, stack = {EXIT}, [EXIT]
    while stack:
        for p in preds.get(stack.pop(), ()):
            if p not in found:
                found.add(p)
                stack.append(p)
    return found
