"""Path-sensitive exploration of one function's control-flow graph.

The state of a path is which section instances it has opened (held), which it has closed that a
caller opened (below), which guard variables hold which instance, and the branch conditions it
has taken, so that `if (ctx) acquire(ctx); ... if (ctx) release(ctx);` is two paths, not four.
A condition is remembered only if the function tests it at two branch sites or more (otherwise it
cannot correlate anything), and is forgotten when a variable it reads is assigned or a field it
reads is written. A call does not invalidate a condition on a field: callees rarely change the
flag their caller branches on, and assuming so removes a large class of false paths (the same
choice as Smatch).

States are deduplicated per block, so loops terminate; counts saturate at 2. A function whose
paths exceed STATE_LIMIT states in a block is explored partially and counted in the run's stats.
"""
from __future__ import annotations

import re
from collections import deque
from functools import lru_cache
from typing import NamedTuple

from ..facts import conditions
from ..facts.accessors import Setter, substitute
from ..facts.ir import (ENTRY, EXIT, Access, Assign, Call, Edge, Return, constant_of, one_sided,
                        ref_decides, ref_target, uncast)
from ..pack.matcher import EQUAL_TO, squash
from .scc import sccs

STATE_LIMIT = 64
MAX_CONDS = 8


class State(NamedTuple):
    held: tuple = ()       # (section, ident, count, line of begin)
    below: tuple = ()      # (section, ident, count, line): closed here, opened by a caller
    conds: tuple = ()      # Decisions (decisions()) of the tracked conditions taken
    handles: tuple = ()    # (variable, section, ident); section "" once the guard is NULL
    touched: tuple = ()    # (section, ident, line of the last end) of instances this path began
    handed: tuple = ()     # (section, ident, line of begin, line of deferral, callback keys)
    ambient: tuple = ()    # locks held by execution context since a switch (not counted)
    known: tuple = ()      # (variable, truth) of tested locals last assigned a constant
    widened: bool = False  # this path has forgotten its conditions (see Explorer.run)
    pending: tuple = ()    # (holder, if true, if false, line): lock effects a call's result
                           # tells (trylock), decided where a branch tests the result
    ret: tuple = ()        # what the path returns: ("truth", bool), ("holder", holder,
                           # positive) for a pending result, or () if unknown
    denied: tuple = ()     # locks an [[assume]]d condition found not held (the false branch
                           # of `if (qemu_in_coroutine())`): no caller holding them gets here
    copies: tuple = ()     # (key, source key, names): what the path stored, as a copy of what
                           # (`tb_set_page_addr0(tb, phys_pc)`: tb->page_addr[0] is phys_pc)
    found: tuple = ()      # locks an [[assume]]d test found held: the caller's, so a release
                           # of them (`if (qemu_mutex_iothread_locked()) unlock;`) drops them
                           # until they are taken again

    def holds(self, lock: str) -> bool:
        return lock in self.ambient or any(s == lock or ident == lock
                                           for s, ident, _c, _l in self.held)

    def is_below(self, lock: str) -> bool:
        return any(b[0] == lock for b in self.below)

    def open_sections(self) -> set[str]:
        return {s for s, _i, _c, _l in self.held}

    def ended_at(self, section: str) -> int | None:
        """Where this path last ended `section` after having begun it, if it did."""
        return next((line for s, _i, line in self.touched if s == section and line), None)


_FIELD_INDEX = {name: i for i, name in enumerate(State._fields)}


def _replace(self: State, **changes) -> State:
    values = list(self)
    for name, value in changes.items():
        values[_FIELD_INDEX[name]] = value
    return tuple.__new__(State, values)


# NamedTuple's own _replace pops every field name; paths replace one or two, tens of thousands
# of times per run. (NamedTuple refuses the override in the class body.)
State._replace = _replace


def begin(st: State, section: str, ident: str, line: int, handle: str = "") -> State:
    handles = tuple(sorted(st.handles + ((handle, section, ident),))) if handle else st.handles
    index = _find_below(st.below, section, ident)
    if index is not None:
        # Re-taking what this path released for its caller (AIO_WAIT_WHILE's release, poll,
        # acquire): the caller's hold is back; this path has not begun anything.
        s, i, c, l = st.below[index]
        below = st.below[:index] + (((s, i, c - 1, l),) if c > 1 else ()) + st.below[index + 1:]
        if section in st.found and section not in st.ambient:
            return st._replace(below=below, handles=handles,
                               ambient=tuple(sorted(st.ambient + (section,))))
        return st._replace(below=below, handles=handles)
    held = list(st.held)
    for k, (s, i, c, l) in enumerate(held):
        if s == section and i == ident:
            held[k] = (s, i, min(c + 1, 2), l)
            break
    else:
        held.append((section, ident, 1, line))
    touched = st.touched
    if not any(t[:2] == (section, ident) for t in touched):
        touched = tuple(sorted(touched + ((section, ident, 0),)))
    return st._replace(held=tuple(sorted(held)), handles=handles, touched=touched)


def end(st: State, section: str, ident: str, line: int, handle: str = "",
        handle_only: bool = False, fallback: bool = False,
        exclusive: bool = False) -> tuple[State, str]:
    """Close an instance. Returns the new state and "" or "double" (closed again what this
    path had already closed) or "below" (closed what a caller opened). With `handle_only`,
    only a guard variable bound to this section closes anything. With `fallback` (locks, whose
    spellings vary: `s->aio_context` and `ctx`), a spelling that matches no open instance closes
    the most recently opened one; sections have several instances open at once (drained `src`
    and `target`), so theirs must match. With `exclusive` (a lock that cannot be taken twice),
    closing the path's last instance leaves it unheld, whatever a test or a callee's assertion
    found while the path held it (`bql_lock(); f(); bql_unlock();` where f() asserts it)."""
    handles = st.handles
    mine = [h for h in st.handles if h[0] == handle] if handle else []
    if mine and all(not h[1] for h in mine):
        return st, ""                          # cleanup of a guard already set to NULL
    bound = next((h for h in mine if h[1] == section), None)
    if bound is not None:
        var, section, ident = bound
        # The guard is spent: its cleanup at scope exit, or the guard loop's next test, must
        # not see it holding the lock again.
        handles = tuple(sorted((var, "", "") if h is bound else h for h in st.handles))
    elif handle_only or mine:
        return st, ""                          # the guard holds another lock than this one
    index = _find_held(st.held, section, ident, fallback)
    if index is not None:
        s, i, c, l = st.held[index]
        held = st.held[:index] + (((s, i, c - 1, l),) if c > 1 else ()) + st.held[index + 1:]
        touched = st.touched
        if not any(h[:2] == (s, i) for h in held):
            touched = _ended(st.touched, line, lambda t: t[:2] == (s, i))
        ambient = st.ambient
        if exclusive and s in ambient and not any(h[0] == s for h in held):
            ambient = tuple(a for a in ambient if a != s)
        return st._replace(held=held, handles=handles, touched=touched, ambient=ambient), ""
    if any(t[0] == section and (t[1] == ident or fallback) for t in st.touched):
        return st._replace(handles=handles), "double"
    below = list(st.below)
    for k, (s, i, c, l) in enumerate(below):
        if s == section and i == ident:
            below[k] = (s, i, min(c + 1, 2), l)
            break
    else:
        below.append((section, ident, 1, line))
    if section in st.found and section in st.ambient:
        return st._replace(below=tuple(sorted(below)), handles=handles,
                           ambient=tuple(a for a in st.ambient if a != section)), "below"
    return st._replace(below=tuple(sorted(below)), handles=handles), "below"


def switch(st: State, section: str) -> State:
    """After a context switch (a coroutine rescheduled into a context) the lock is held by the
    code's execution context until it returns; it is not a begin that needs an end."""
    if section in st.ambient and section not in st.denied:
        return st
    return st._replace(ambient=tuple(sorted(set(st.ambient) | {section})),
                       denied=tuple(d for d in st.denied if d != section))


def found_held(st: State, section: str) -> State:
    """Where an [[assume]]d test finds the lock held: held by the execution context, which a
    release on this path drops (`if (qemu_mutex_iothread_locked()) unlock;`)."""
    st = switch(st, section)
    return st if section in st.found else st._replace(found=tuple(sorted(st.found + (section,))))


def assumed(st: State, locks, truth: bool) -> State:
    """Where an [[assume]]d condition is `truth`: its locks are found held, or not held."""
    for lock in locks:
        st = found_held(st, lock) if truth else unswitch(st, lock)
    return st


def unswitch(st: State, section: str) -> State:
    """Where an [[assume]]d condition is false: the lock is not held, and the path is one
    that a caller holding it does not take."""
    if section not in st.ambient and section in st.denied:
        return st
    return st._replace(ambient=tuple(a for a in st.ambient if a != section),
                       denied=tuple(sorted(set(st.denied) | {section})))


def hand_over(st: State, sections: set[str], line: int, callbacks: tuple) -> State:
    """Move the open instances of `sections` to a deferred callback that will close them."""
    keep, moved = [], []
    for s, i, c, l in st.held:
        (moved if s in sections else keep).append((s, i, c, l))
    if not moved:
        return st
    handed = st.handed + tuple((s, i, l, line, callbacks) for s, i, _c, l in moved)
    return st._replace(held=tuple(keep), handed=tuple(sorted(handed)))


# ---- results that tell whether a lock was taken ---------------------------------------------
# A trylock, or a function whose return value says whether it took a lock (QEMU's
# prepare_mmio_access()), leaves its effect pending on the path, held by the call (its call_ref)
# and then by the local its result is stored in. A branch that tests the result decides it.
# Effects are (section, instance, delta, fallback) as `end` takes them.

def add_pending(st: State, holder: str, if_true: tuple, if_false: tuple, line: int) -> State:
    pending = tuple(p for p in st.pending if p[0] != holder) + ((holder, if_true, if_false, line),)
    return st._replace(pending=tuple(sorted(pending)))


def resolve(st: State, holder: str, truth: bool) -> State:
    """Apply the effects pending on `holder` now that its result is known to be `truth`. Results
    accumulated with `|=` are true if any was: a lock they all take counts once (a lock taken
    only when not held cannot be taken twice)."""
    mine = [p for p in st.pending if p[0] == holder]
    if not mine:
        return st
    st = st._replace(pending=tuple(p for p in st.pending if p[0] != holder))
    applied = set()
    for _holder, if_true, if_false, line in mine:
        for section, ident, delta, fallback in (if_true if truth else if_false):
            if (section, ident, delta) in applied:
                continue
            applied.add((section, ident, delta))
            st = apply_delta(st, section, ident, delta, line, fallback)
    return st


def apply_delta(st: State, section: str, ident: str, delta: int, line: int,
                fallback: bool) -> State:
    """+n begins, -n ends; 0 means held by execution context (a lock taken only when not held
    that did not take it: it was held already)."""
    if delta == 0:
        return switch(st, section)
    for _ in range(abs(delta)):
        if delta > 0:
            st = begin(st, section, ident, line)
        else:
            st, _problem = end(st, section, ident, line, fallback=fallback)
    return st


def _store_result(st: State, event: Assign) -> State:
    """A local assigned a pending call's result holds it from now on (negated: `!trylock()`);
    one assigned anything else no longer holds what it held, unless it accumulates (`|=`)."""
    if not st.pending:
        return st
    names = set(event.names)
    pending = st.pending if event.accumulates else tuple(p for p in st.pending
                                                          if p[0] not in names)
    if event.ref and event.names and not one_sided(event.ref):
        holder, positive = ref_target(event.ref)
        swap = not positive
        renamed = []
        for h, if_true, if_false, line in pending:
            if h == holder:
                h = event.names[0]
                if swap:
                    if_true, if_false = if_false, if_true
            renamed.append((h, if_true, if_false, line))
        pending = tuple(renamed)
    return st if pending == st.pending else st._replace(pending=tuple(sorted(pending)))


def _returned(st: State, event: Return) -> State:
    """What the path returns, where it is a constant, a tracked local or a pending result."""
    holder, positive = ref_target(event.ref) if not one_sided(event.ref) else ("", True)
    if holder and any(p[0] == holder for p in st.pending):
        return st._replace(ret=("holder", holder, positive))
    truth = next((t for v, t in st.known if v == holder), None) if holder else None
    if truth is None and holder:
        # A local this path tested: `if (req) break; ... return req;`
        truth = next((relation == "!=" for d in st.conds for k, relation, zero in d.atoms
                      if k == holder and zero == 0 and relation in ("==", "!=")), None)
    if truth is not None:
        return st._replace(ret=("truth", truth == positive))
    if event.value is not None:
        return st._replace(ret=("truth", bool(event.value)))
    return st._replace(ret=()) if st.ret else st


def guarded_cleanup(st: State, call: Call) -> str:
    """The guard variable of a cleanup call (`cleanup(&guard)` at scope exit) when it holds a
    pending result (`g_autoptr(BQLLockAuto) g = bql_auto_lock()`), else ""."""
    if not (call.cleanup and st.pending and call.args):
        return ""
    var = call.args[0].text.lstrip("&")
    return var if any(p[0] == var for p in st.pending) else ""


def pending_sections(st: State) -> dict[str, set]:
    """The sections each pending result would change, by holder."""
    out: dict[str, set] = {}
    for holder, if_true, if_false, _line in st.pending:
        out.setdefault(holder, set()).update(e[0] for e in if_true + if_false)
    return out


def decide(st: State, sections) -> list[State] | None:
    """Both decisions of the first pending result that would change one of `sections`, for a
    step that needs to know (a release of the lock a trylock may have taken); None if none."""
    for holder, changes in sorted(pending_sections(st).items()):
        if changes & sections:
            return [resolve(st, holder, True), resolve(st, holder, False)]
    return None


def outcomes(st: State) -> list[State]:
    """A path's exit state with its pending results decided both ways: the one it returns
    as what it returns, then any other (an ignored trylock result: either may hold)."""
    if not st.pending:
        return [st]
    if st.ret and st.ret[0] == "holder":
        _kind, holder, positive = st.ret
        return [o for truth in (True, False)
                for o in outcomes(resolve(st, holder, truth)._replace(
                    ret=("truth", truth == positive)))]
    holder = st.pending[0][0]
    return [o for truth in (True, False) for o in outcomes(resolve(st, holder, truth))]


def clear(st: State, section: str, line: int) -> State:
    """After an assertion that no instance of `section` is held (`assert_no_pages_locked()`):
    the path holds none. A path that still counted one open got there by a branch the
    analysis could not decide (a callee that releases one or two depending on its arguments)."""
    if not any(h[0] == section for h in st.held):
        return st
    held = tuple(h for h in st.held if h[0] != section)
    return st._replace(held=held, touched=_ended(st.touched, line, lambda t: t[0] == section))


def _ended(touched, line: int, closed) -> tuple:
    """`touched` with the instances `closed` picks marked ended at `line` (unless they were
    already): a later end of one is a second one."""
    return tuple(sorted((t[0], t[1], t[2] or line) if closed(t) else t for t in touched))


def give_away(st: State, section: str) -> State:
    """The most recently opened instance of `section` is closed by someone else from now on
    (an action added to a transaction ends it when the transaction runs)."""
    opened = [k for k, h in enumerate(st.held) if h[0] == section]
    if not opened:
        return st
    index = max(opened, key=lambda k: st.held[k][3])
    s, i, c, l = st.held[index]
    held = st.held[:index] + (((s, i, c - 1, l),) if c > 1 else ()) + st.held[index + 1:]
    return st._replace(held=held)


def _find_held(held, section, ident, fallback):
    exact = [k for k, h in enumerate(held) if h[0] == section and h[1] == ident]
    if exact:
        return exact[0]
    same = [k for k, h in enumerate(held) if h[0] == section] if fallback else []
    return max(same, key=lambda k: held[k][3]) if same else None


def _find_below(below, section, ident):
    """Re-taking cancels a release only for the same instance: `release(old); acquire(new)`
    leaves a lock held (net effect still balances per section, see net_effect)."""
    exact = [k for k, b in enumerate(below) if b[0] == section and b[1] == ident]
    return exact[0] if exact else None


def known_nonnull(st: State, var: str) -> State:
    """A variable passed as a lock's argument is dereferenced, so not NULL from here on
    (`ctx = NULL; if (blk) { ctx = ...; aio_context_acquire(ctx); } ... if (ctx) release`)."""
    if not var.isidentifier() or (var, True) in st.known:
        return st
    return knowing(st, var, True)


def knowing(st: State, var: str, truth: bool) -> State:
    """The state where the local `var` is known to be `truth`."""
    return st._replace(known=tuple(sorted({k for k in st.known if k[0] != var} | {(var, truth)})))


def loop_blocks(fn) -> set[int]:
    """Blocks that lie on a cycle of the control-flow graph."""
    succ = [[e.target for e in b.succs] for b in fn.blocks]
    out = set()
    for comp in sccs(range(len(fn.blocks)), succ.__getitem__):
        if len(comp) > 1 or comp[0] in succ[comp[0]]:
            out.update(comp)
    return out


def ambient_effect(exits) -> tuple:
    """Locks every path leaves held by execution context (a context switch wrapper)."""
    sets = [set(st.ambient) for _n, st in exits]
    return tuple(sorted(set.intersection(*sets))) if sets else ()


def instance_effect(st: State) -> dict:
    """Like net_effect, per (section, instance): sections have several instances at once."""
    count: dict = {}
    for s, i, c, _l in st.held:
        count[(s, i)] = count.get((s, i), 0) + c
    for s, i, c, _l in st.below:
        count[(s, i)] = count.get((s, i), 0) - c
    return {k: n for k, n in count.items() if n}


def net_effect(st: State) -> tuple:
    """What a path leaves changed for its caller: +n per section it leaves open, -n per
    section it closed for its caller. Instances are compared by section only."""
    count: dict = {}       # not a Counter: this runs per path, and Counter() is slow to make
    for s, _i, c, _l in st.held:
        count[s] = count.get(s, 0) + c
    for s, _i, c, _l in st.below:
        count[s] = count.get(s, 0) - c
    return tuple(sorted((s, n) for s, n in count.items() if n))


# ---- conditions ------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
@lru_cache(maxsize=65536)
def normalize_cond(text: str) -> tuple[str, bool]:
    """"!(x)" -> ("x", False); "x == 0" / "x == NULL" -> ("x", False); "x != 0" -> ("x", True)."""
    positive = True
    t = text.strip()
    while True:
        if t.startswith("!") and not t.startswith("!=") and _one_operand(t[1:]):
            positive = not positive
            t = t[1:].strip()
        elif t.startswith("(") and t.endswith(")") and _balanced(t[1:-1]):
            t = t[1:-1].strip()
        else:
            break
    for null in (" == 0", " == (0)", " == NULL"):
        if t.endswith(null):
            return t[: -len(null)].strip(), not positive
    for nonnull in (" != 0", " != (0)", " != NULL"):
        if t.endswith(nonnull):
            return t[: -len(nonnull)].strip(), positive
    return t, positive


def _one_operand(text: str) -> bool:
    """Whether `text` has no binary operator outside parentheses (conditions print binary
    operators with spaces around them): `!a || b` negates a, not the disjunction."""
    depth = 0
    for ch in text.strip():
        depth += (ch == "(") - (ch == ")")
        if ch == " " and depth == 0:
            return False
    return True


def _balanced(t: str) -> bool:
    depth = 0
    for ch in t:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def tested_variables(fn) -> frozenset:
    """Plain variables that the function's branches test (`if (ctx)`, `while (!p)`, a
    statement expression's value) or that it returns (`return release_lock;`: what it returns
    may tell its callers something). Call references among them are never assigned."""
    out = set()
    for block in fn.blocks:
        for event in block.events:
            if type(event) is Return and event.ref:
                out.add(ref_decides(event.ref, True)[0])
        for edge in block.succs:
            if edge.ref:
                out.add(ref_decides(edge.ref, True)[0])
            if edge.cond and edge.value in ("true", "false"):
                base = normalize_cond(edge.cond)[0]
                if base.isidentifier():
                    out.add(base)
                # and as a part of a compound condition (`if (unlock && ctx_)`)
                out.update(k for k, _r, _c in conditions.decision(block, edge) or ()
                           if k.isidentifier())
    return frozenset(out)


def unread_flags(fn) -> frozenset:
    """The `v |= FLAG` assignments (by id) whose bits no branch of the function tests: every
    test that reads v is `v & MASK` with MASK & FLAG == 0, the constants as libclang folded
    them. Adding such a flag changes no condition (block/file-posix.c's raw_co_prw() adds
    QEMU_AIO_MISALIGNED between two `type & (QEMU_AIO_WRITE | QEMU_AIO_ZONE_APPEND)` tests)."""
    flags = [(e, constant_of(e.expr)) for block in fn.blocks for e in block.events
             if type(e) is Assign and e.op == "|=" and e.expr is not None]
    flags = [(e, bits) for e, bits in flags if bits is not None]
    if not flags:
        return frozenset()
    masks: dict[str, list] = {}
    for block in fn.blocks:
        if block.cond is not None and any(e.value in ("true", "false") for e in block.succs):
            _bit_tests(block.cond, None, masks)
    return frozenset(id(e) for e, bits in flags
                     if all(m is not None and not m & bits for m in masks.get(e.names[0], ())))


def _bit_tests(tree, mask, out: dict) -> None:
    """How a condition reads each variable: as `v & MASK` with MASK constant (the mask), or
    otherwise (None)."""
    tree = uncast(tree)
    if tree[0] in ("var", "global"):
        out.setdefault(tree[2], []).append(mask)
        return
    if tree[0] == "&" and len(tree) == 4:
        for mine, other in ((2, 3), (3, 2)):
            value, operand = constant_of(tree[other]), uncast(tree[mine])
            if value is not None and operand[0] in ("var", "global"):
                _bit_tests(operand, value, out)
                return
    for kid in tree[2:]:
        if isinstance(kid, tuple):
            _bit_tests(kid, None, out)


def returned_locals(fn) -> set[str]:
    """Variables the function returns as they are (`return req;`): a branch on one tells what
    the function returns there (a lock taken iff the pointer returned is non-NULL)."""
    out = set()
    for block in fn.blocks:
        for event in block.events:
            if type(event) is Return and event.ref and not one_sided(event.ref):
                holder = ref_target(event.ref)[0]
                if holder.isidentifier():
                    out.add(holder)
    return out


def all_conditions(fn) -> set[str]:
    """Every true/false branch condition of the function, normalized."""
    return {normalize_cond(e.cond)[0] for b in fn.blocks for e in b.succs
            if e.cond and e.value in ("true", "false")}


class Decision(NamedTuple):
    """What taking a true/false edge establishes: the normalized condition and its truth (for
    names and patterns), the identifiers it reads (what invalidates it), and the atoms its
    tree establishes (facts/conditions.py), which is what decisions are compared by: with call
    arguments (`atoms`) within a function, without (`loose`) across two functions that name
    the same object differently (`bdrv_get_aio_context(s->bs)` and `...(src)`)."""
    cond: str
    value: bool
    names: tuple
    atoms: tuple
    loose: tuple
    or_keeps: frozenset = frozenset()   # variables v after whose `v |= e` it still holds
    impossible: bool = False            # a constant part says the edge is never taken


def decisions(fn, inline=None) -> dict:
    """The Decision of each true/false edge of `fn`, by id(edge). A condition whose tree
    cannot say it (an unknown part) is one opaque atom, its normalized text. `inline`: the
    program's accessors (facts/accessors.py), a getter's call keyed as what it returns."""
    out = {}
    calls = conditions.calls_of(fn.blocks)
    for block in fn.blocks:
        for edge in block.succs:
            if edge.cond and edge.value in ("true", "false"):
                base, positive = normalize_cond(edge.cond)
                value = positive == (edge.value == "true")
                opaque = ((base, "!=" if value else "==", 0),)
                out[id(edge)] = Decision(
                    base, value, edge.names,
                    conditions.decision(block, edge, inline=inline, calls=calls) or opaque,
                    conditions.decision(block, edge, abstract=True) or opaque,
                    or_keeps(block.cond, edge.value == "true"),
                    never_taken(block.cond, edge.value == "true"))
    return out


def never_taken(tree, value: bool) -> bool:
    """Whether a part of the condition the decision needs is a constant of the other truth:
    `false && ctx_` taken true (AIO_WAIT_WHILE_UNLOCKED's `unlock` argument), `while (1)`'s
    exit."""
    if tree is None:
        return False
    for part, positive in conditions.conjuncts(tree, value):
        constant = constant_of(part)
        if constant is not None and bool(constant) != positive:
            return True
    return False


def or_keeps(tree, value: bool) -> frozenset:
    """The variables v whose `v |= e` leaves a decision true: OR only sets bits, so a true
    conjunction whose every conjunct reading v tests bits of v (`v & MASK`) holds still
    (block/file-posix.c's raw_co_prw(): `type |= QEMU_AIO_MISALIGNED` between two
    `(type & (QEMU_AIO_WRITE | QEMU_AIO_ZONE_APPEND)) && ...` tests). A false one may not."""
    if tree is None or not value:
        return frozenset()
    keeps, breaks = set(), set()
    for part, positive in conditions.conjuncts(tree, True):
        part = uncast(part)
        tested = {uncast(o)[2] for o in part[2:] if part[0] == "&" and len(part) == 4
                  and uncast(o)[0] in ("var", "global")} if positive else set()
        read = _names_in(part)
        keeps |= tested
        breaks |= read - tested
        # `v & (v - 1)`: v read other than as an operand of the bit test
        breaks |= {v for o in part[2:] if isinstance(o, tuple) and uncast(o)[0] not in
                   ("var", "global") for v in _names_in(o)} & tested
    return frozenset(keeps - breaks)


def contradicts(conds, other) -> bool:
    """Do two paths' decisions contradict each other (their loose atoms)?"""
    return conditions.contradicts([a for d in conds for a in d.loose],
                                  [a for d in other for a in d.loose])


def correlated_conditions(fn, inline=None) -> set[str]:
    """Conditions (normalized), and the atoms' keys, that the function tests at two branch
    sites or more: `s->x` in `if (s->x)` and in `if (s->x && n > 0)`; a key the function
    stores a copy of another into counts as that other (`tb_set_page_addr0(tb, phys_pc);
    if (phys_pc != -1) ...; if (tb_page_addr0(tb) == -1)` tests phys_pc three times)."""
    sources = _copy_sources(fn, inline)
    calls = conditions.calls_of(fn.blocks)
    sites: dict[str, set] = {}
    for index, block in enumerate(fn.blocks):
        for edge in block.succs:
            # Conditions that call functions are included: QEMU repeats stable queries
            # (`if (qemu_in_coroutine()) lock ... if (qemu_in_coroutine()) unlock`).
            if edge.cond and edge.value in ("true", "false"):
                site = (index, edge.line)
                sites.setdefault(normalize_cond(edge.cond)[0], set()).add(site)
                for atom in conditions.decision(block, edge, inline=inline, calls=calls) or ():
                    sites.setdefault(sources.get(atom[0], atom[0]), set()).add(site)
    return {c for c, s in sites.items() if len(s) >= 2}


def _copy_sources(fn, inline) -> dict:
    """key -> the one source key the function ever stores into it as a copy."""
    found: dict[str, set] = {}
    for block in fn.blocks:
        for event in block.events:
            copy = copy_made(event, inline)
            if copy is not None:
                found.setdefault(copy[0], set()).add(copy[1])
    return {k: next(iter(v)) for k, v in found.items() if len(v) == 1}


def copy_made(event, inline=None) -> tuple | None:
    """(key, source key, names) where `event` stores a copy of a value that is no constant
    and calls nothing: `x = s->a`, `s->a = x`, a setter's call (`tb_set_page_addr0(tb, pc)`)."""
    if type(event) is Assign and event.op == "=" and event.expr is not None:
        return _copy(event.target, event.expr)
    if type(event) is Access and event.op == "=" and event.value is not None:
        return _copy(event.lvalue, event.value)
    if type(event) is Call and inline:
        setter = inline.get(event.callee)
        if type(setter) is Setter:
            lvalue = substitute(setter.lvalue, setter.params, event.args)
            value = substitute(setter.value, setter.params, event.args)
            if lvalue is not None and value is not None:
                return _copy(lvalue, value)
    return None


def _copy(lvalue, value) -> tuple | None:
    if lvalue is None or constant_of(value) is not None or _calls_in(value):
        return None
    dest, source = conditions.key(lvalue), conditions.key(value)
    if dest is None or source is None or dest == source:
        return None
    return dest, source, tuple(sorted(_names_in(lvalue) | _names_in(value)))


def _calls_in(tree) -> bool:
    return tree[0] == "call" or any(_calls_in(k) for k in tree[2:] if isinstance(k, tuple))


def _names_in(tree) -> set:
    if tree[0] in ("var", "global"):
        return {tree[2]}
    return set().union(*(_names_in(k) for k in tree[2:] if isinstance(k, tuple)))


def _stored(st: State, copy: tuple | None, written: str, names) -> State:
    """After a store: copies and decisions that read what it wrote are forgotten (the key
    `written` of a field, or the locals `names`), and the copy it made is remembered."""
    copies = [c for c in st.copies if not (written and (written in c[0] or written in c[1]))
              and not (names and names.intersection(c[2]))]
    conds = st.conds
    if written and copy is not None:
        conds = tuple(d for d in conds if not any(copy[0] in a[0] for a in d.atoms))
    if copy is not None:
        copies.append(copy)
    copies = tuple(sorted(copies))
    if copies == st.copies and conds == st.conds:
        return st
    return st._replace(copies=copies, conds=conds)


def _through_copies(atoms, copies) -> tuple:
    """Atoms about a copy, as about what it copies."""
    source = {c[0]: c[1] for c in copies}
    return tuple((source.get(k, k), relation, constant) for k, relation, constant in atoms)


def take_edge(st: State, edge: Edge, tracked: set[str], assumptions=None,
              decided: Decision | None = None) -> State | None:
    """The state after taking `edge`, or None if the path contradicts itself. `assumptions`
    maps a condition to the locks held where it is true ([[assume]]); `decided` is the edge's
    Decision (decisions())."""
    if not edge.cond or edge.value not in ("true", "false"):
        return st
    base, value = (decided.cond, decided.value) if decided else _decided_text(edge)
    if edge.ref:
        # The value the condition tests: a pending result decided, a tracked local checked.
        holder, truth = ref_decides(edge.ref, edge.value == "true")
        if truth is not None:
            if st.pending:
                st = resolve(st, holder, truth)
            if any(v == holder and t != truth for v, t in st.known):
                return None
    elif st.pending and base.isidentifier():
        st = resolve(st, base, value)
    if assumptions and decided:
        # Where an assumed condition is true its locks are held, where false they are not;
        # also as a conjunct of a true `&&` or a disjunct of a false `||`.
        for k, relation, constant in decided.atoms:
            if constant == 0 and relation in ("==", "!="):
                st = assumed(st, assumptions.get(squash(k), ()), relation == "!=")
                for lock in held_where_equal(assumptions, k, relation == "!="):
                    st = switch(st, lock)
    if value and st.handles and base.isidentifier() and \
            any(h[0] == base and not h[1] for h in st.handles):
        return None                            # a NULL guard tested as non-NULL
    if decided is not None and (decided.impossible or _contradicts_known(st, decided.atoms)):
        return None
    for var, truth in st.known:
        if var == base:
            return st if truth == value else None
    if decided is None:
        return st
    if st.copies:
        atoms = _through_copies(decided.atoms, st.copies)
        if atoms != decided.atoms:
            names = {n for c in st.copies for n in c[2]} | set(decided.names)
            decided = decided._replace(atoms=atoms, names=tuple(sorted(names)))
    if base not in tracked and not any(atom[0] in tracked for atom in decided.atoms):
        return st
    known = [atom for d in st.conds for atom in d.atoms]
    if conditions.contradicts(known, decided.atoms):
        return None
    if len(st.conds) >= MAX_CONDS or set(decided.atoms).issubset(known):
        return st
    return st._replace(conds=tuple(sorted(st.conds + (decided,))))


def assumed_stores(fn, assumptions, inline, tested) -> dict:
    """id(Assign) -> (variable, locks, truth) where a tested local stores an [[assume]]d
    condition (`bool need_lock = !qemu_mutex_iothread_locked();`): where the variable is
    `truth`, the condition held when it was stored, and so did its locks."""
    if not assumptions:
        return {}
    calls, out = None, {}
    for block in fn.blocks:
        for event in block.events:
            if type(event) is not Assign or event.op != "=" or event.expr is None or \
                    len(event.names) != 1 or event.names[0] not in tested:
                continue
            calls = calls if calls is not None else conditions.calls_of(fn.blocks)
            tree, truth = conditions.whole(event.expr, True)
            k = conditions.key(tree, calls, False, inline)
            locks = assumptions.get(squash(k), ()) if k is not None else ()
            if locks:
                out[id(event)] = (event.names[0], tuple(locks), truth)
    return out


def _store_assumed(st: State, var: str, locks: tuple, truth: bool) -> list[State]:
    """Both values of a local that stored an assumed condition: where it is `truth`, the
    locks are held (by the caller); where not, they are not, and a caller holding them does
    not come that way."""
    return [assumed(knowing(st, var, value), locks, value == truth) for value in (True, False)]


def held_where_equal(assumptions, k: str, truth: bool) -> tuple:
    """The locks an [[assume]] `* == X` holds where the key `k`, taken `truth`, finds a
    variable or field equal to X (`ctx != qemu_get_aio_context()` false: ctx is the main
    context). Only a variable or a field stands for `*`: `qemu_get_current_aio_context() ==
    qemu_get_aio_context()` says which thread runs, not which context a lock is of."""
    compared = conditions.equality(k)
    if compared is None:
        return ()
    left, op, right = compared
    if truth != (op == "=="):
        return ()
    return tuple(lock for one, other in ((left, right), (right, left)) if _LVALUE.fullmatch(other)
                 for lock in assumptions.get(EQUAL_TO + squash(one), ()))


_LVALUE = re.compile(r"[A-Za-z_]\w*(?:(?:->|\.)[A-Za-z_]\w*)*")


def _contradicts_known(st: State, atoms) -> bool:
    """Whether an atom tests a local the path last assigned a constant, the other way
    (`ctx_ = NULL; ... if (unlock && ctx_)` taken true)."""
    if not st.known:
        return False
    known = dict(st.known)
    return any(k in known and known[k] != (relation == "!=")
               for k, relation, constant in atoms if constant == 0 and relation in ("==", "!="))


def _decided_text(edge: Edge) -> tuple[str, bool]:
    base, positive = normalize_cond(edge.cond)
    return base, positive == (edge.value == "true")


def forget(st: State, event, tested=frozenset(), unread=frozenset()) -> State:
    """The state after an event other than a call: what an assignment invalidates or teaches,
    what a return returns. `unread`: the flag assignments no condition reads (unread_flags)."""
    if isinstance(event, Return):
        return _returned(st, event)
    if isinstance(event, Assign):
        if st.handles:
            st = _assign_handles(st, event)
        st = _assign_known(st, event, tested)
        st = _store_result(st, event)
    if not st.conds:
        return st
    if isinstance(event, Assign):
        if id(event) in unread:
            return st
        names = set(event.names)
        conds = tuple(c for c in st.conds if not names.intersection(c.names)
                      or event.accumulates and names.intersection(c.names) <= c.or_keeps)
    elif isinstance(event, Access) and event.mode in ("w", "inc", "dec"):
        conds = tuple(c for c in st.conds if event.text not in c[0])
    else:
        return st
    return st if len(conds) == len(st.conds) else st._replace(conds=conds)


def _assign_known(st: State, event: Assign, tested) -> State:
    """Remember the truth of tested locals assigned a constant: `ctx = NULL; if (x) ctx = f();
    ... if (ctx)`, `need_drain = false; ... if (need_drain)`."""
    names = [n for n in event.names if n in tested]
    if not names and not st.known:
        return st
    known = [k for k in st.known if k[0] not in event.names]
    if event.value is not None:
        known += [(n, bool(event.value)) for n in names]
    known = tuple(sorted(known))
    return st if known == st.known else st._replace(known=known)


def _assign_handles(st: State, event: Assign) -> State:
    """A guard variable set to NULL no longer holds its lock (WITH_QEMU_LOCK_GUARD's loop
    increment). Any other assignment keeps the binding: the guard's own initialization is one."""
    if not event.null:
        return st
    names = set(event.names)
    if not any(h[0] in names for h in st.handles):
        return st
    handles = [(var, "" if var in names else section, "" if var in names else ident)
               for var, section, ident in st.handles]
    return st._replace(handles=tuple(sorted(handles)))


# ---- exploration ---------------------------------------------------------------------------

class Explorer:
    """Breadth-first exploration of (block, state) pairs with parent links for witness paths.

    `step(state, event, node)` returns the state after the event, or None to end the path."""

    def __init__(self, fn, step, tracked: set[str], limit: int = STATE_LIMIT, assumptions=None,
                 inline=None):
        self.fn = fn
        self.inline = inline or {}
        self.step = step
        self.tracked = tracked
        self.assumptions = assumptions or {}
        self.tested = tested_variables(fn)
        self.unread = unread_flags(fn)
        self.decisions = decisions(fn, self.inline)
        self.assumed = assumed_stores(fn, self.assumptions, self.inline, self.tested)
        self.limit = limit
        self.nodes: list[tuple] = []          # (block, state, parent node, edge)
        self.exits: list[tuple[int, State]] = []
        self.truncated = False

    def run(self, init: State) -> list[tuple[int, State]]:
        blocks = self.fn.blocks
        seen: dict[tuple, int] = {}
        per_block: dict[int, int] = {}
        queue = deque()

        def push(block, state, parent, edge):
            count = per_block.get(block, 0)
            if count >= self.limit:
                # Widen: past the limit, paths forget their branch conditions and what they
                # have touched, which merges them (more paths are kept, never fewer).
                state = state._replace(conds=(), touched=(), known=(), copies=(), widened=True)
                if count >= self.limit * 4:
                    self.truncated = True
                    return
            key = (block, state)
            if key in seen:
                return
            per_block[block] = count + 1
            seen[key] = len(self.nodes)
            self.nodes.append((block, state, parent, edge))
            queue.append(len(self.nodes) - 1)

        push(ENTRY, init, -1, None)
        while queue:
            node = queue.popleft()
            block, state, _parent, _edge = self.nodes[node]
            for state in self._through(blocks[block].events, 0, state, node):
                if block == EXIT:
                    self.exits.append((node, state))
                    continue
                for edge in blocks[block].succs:
                    nxt = take_edge(state, edge, self.tracked, self.assumptions,
                                    self.decisions.get(id(edge)))
                    if nxt is not None:
                        push(edge.target, nxt, node, edge)
        return self.exits

    def _through(self, events, start: int, state: State, node: int) -> list[State]:
        """The states after a block's events from `start`: none if the path ends, several
        where a step forks it (a pending trylock result decided both ways) or a local stores
        an [[assume]]d condition (decided both ways where it is stored)."""
        for index in range(start, len(events)):
            event = events[index]
            if type(event) is not Call:
                state = forget(state, event, self.tested, self.unread)
                if id(event) in self.assumed:
                    return [after for forked in _store_assumed(state, *self.assumed[id(event)])
                            for after in self._through(events, index + 1, forked, node)]
            state = self._copies(state, event)
            state = self.step(state, event, node)
            if state is None:
                return []
            if type(state) is list:
                return [after for forked in state
                        for after in self._through(events, index + 1, forked, node)]
        return [state]

    def _copies(self, state: State, event) -> State:
        """The copies a path remembers: those of a condition's expression (tracked), made by
        stores and setters' calls, forgotten when either side is written."""
        copy = copy_made(event, self.inline)
        if copy is not None and copy[0] not in self.tracked and copy[1] not in self.tracked:
            copy = None
        kind = type(event)
        if kind is Assign:
            written, names = "", set(event.names)
        elif kind is Access and event.mode != "r":
            written, names = event.text, ()
        elif copy is not None:
            written, names = copy[0], ()
        else:
            return state
        if copy is None and not state.copies:
            return state
        return _stored(state, copy, written, names)

    def path(self, node: int) -> list[Edge]:
        """The edges from the entry to `node`."""
        edges = []
        while node >= 0:
            _block, _state, parent, edge = self.nodes[node]
            if edge is not None:
                edges.append(edge)
            node = parent
        return edges[::-1]


def reachable_blocks(fn, start=(ENTRY,), through=None) -> list[int]:
    """Blocks reachable from `start` (themselves included); with `through`, paths go on only
    from the blocks it accepts."""
    seen = set(start)
    stack = list(seen)
    while stack:
        b = stack.pop()
        if through is not None and not through(b):
            continue
        for e in fn.blocks[b].succs:
            if e.target not in seen:
                seen.add(e.target)
                stack.append(e.target)
    return sorted(seen)


def calls_in(fn) -> tuple:
    """(block, index, call) of every call in reachable blocks, in block order."""
    return tuple((b, i, ev) for b in reachable_blocks(fn)
                 for i, ev in enumerate(fn.blocks[b].events) if isinstance(ev, Call))
