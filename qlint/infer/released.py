"""Released contracts: a function that releases a lock it has not taken, and takes it again,
drops its caller's hold for a while, so its caller must hold the lock (Engler et al., "Bugs as
Deviant Behavior", SOSP 2001: unlocking is a belief that the lock is held). QEMU 7.2's
bdrv_reopen() releases the node's context around bdrv_reopen_multiple() and takes it again.

Only releases the function writes out are read: a macro's (AIO_WAIT_WHILE()) releases or not by
which thread runs it, which the code does not say. A release that is not taken again is a lock
wrapper's effect or a hand-over, not a belief about the caller."""
from __future__ import annotations

from ..analysis.paths import reachable_blocks
from ..facts.ir import ENTRY, Call
from ..pack.model import Evidence


def released_contracts(program, pack, sem, locks) -> list[tuple]:
    """(function key, "requires", lock, Evidence) of every function that drops its caller's
    hold of a [[released]] lock."""
    wanted = {r.lock for r in pack.released if r.lock in locks}
    if not wanted:
        return []
    releases = {m.name for s in pack.sections if s.name in wanted for m in s.end}
    out = []
    for key in sorted(program.functions):
        fn = program.functions[key]
        if not _writes(fn, releases):
            continue
        for lock, call, op in dropped(fn, sem, wanted):
            out.append((key, "requires", lock,
                        Evidence("release", fn.file, call.line, f"{call.name}({op.arg})")))
    return out


def dropped(fn, sem, locks) -> list[tuple]:
    """(lock, call, SectionOp) of the first written release of each lock in `locks` that some
    path reaches without the function having taken the lock, and after which it takes the same
    instance again."""
    ops = _lock_ops(fn, sem, locks)
    found = {}
    for (block, index), (call, op) in sorted(ops.items()):
        if op.op != "end" or call.macro or op.section in found:
            continue
        if _untaken_to(fn, ops, block, index, op.section) and \
                _taken_after(fn, ops, block, index, op):
            found[op.section] = (op.section, call, op)
    return [found[lock] for lock in sorted(found)]


def _writes(fn, names: set) -> bool:
    """Whether the function writes out a call of one of `names` (not through a macro)."""
    return any(isinstance(e, Call) and e.name in names and not e.macro
               for block in fn.blocks for e in block.events)


def _lock_ops(fn, sem, locks) -> dict[tuple, tuple]:
    """{(block, event index): (call, op)} of the function's operations on `locks`."""
    out = {}
    for b, block in enumerate(fn.blocks):
        for i, event in enumerate(block.events):
            if isinstance(event, Call):
                for op in sem.section_ops(event):
                    if op.section in locks and op.counts:
                        out[(b, i)] = (event, op)
    return out


def _takes(ops, block: int, lock: str, before: int | None = None, after: int = -1,
           ident: str | None = None) -> bool:
    """Whether `block` takes `lock` (the instance `ident`, if given) between events `after`
    and `before`."""
    return any(b == block and after < i and (before is None or i < before) and
               op.op in ("begin", "try") and op.section == lock and
               (ident is None or op.ident == ident)
               for (b, i), (_call, op) in ops.items())


def _untaken_to(fn, ops, block: int, index: int, lock: str) -> bool:
    """Whether some path from the entry reaches event `index` of `block` without taking
    `lock` (a path through a block that takes it anywhere counts as taking it: in doubt, no
    contract)."""
    if _takes(ops, block, lock, before=index):
        return False
    return block == ENTRY or block in reachable_blocks(
        fn, through=lambda b: not _takes(ops, b, lock))


def _taken_after(fn, ops, block: int, index: int, release) -> bool:
    """Whether the instance `release` drops is taken again after it, on some path (a lock of
    one instance, the BQL, names none)."""
    ident = release.ident or None
    if _takes(ops, block, release.section, after=index, ident=ident):
        return True
    later = reachable_blocks(fn, start=[e.target for e in fn.blocks[block].succs])
    return any(_takes(ops, b, release.section, ident=ident) for b in later)
