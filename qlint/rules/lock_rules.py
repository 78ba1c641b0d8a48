"""QL101 lock-required, QL103 lock-excluded and QL203 outside-section: a requirement (a lock
held, a lock not held, a section open) unmet on a path from an entry point."""
from __future__ import annotations

from ..report.model import Finding, Related, Step
from .base import Rule


def entry_step(ctx, entry) -> Step:
    fn = ctx.program.functions[entry.func]
    reg = entry.registration
    if entry.kind == "entry":
        note = f"entry point: {reg.description or 'declared root'} (holds {_locks(entry.holds)})"
        return Step(fn.name, fn.file, fn.line, note)
    via = f" through {reg.wrapper}()" if reg.wrapper else ""
    where = ctx.program.functions[reg.caller]
    note = (f"entry point: {entry.kind} registered by {api_name(reg)}(){via} in {where.name}(), "
            f"line {reg.line} (holds {_locks(entry.holds)})")
    return Step(fn.name, fn.file, fn.line, note)


def api_name(reg) -> str:
    return reg.api


def registration_related(ctx, entry, also: bool = False) -> list[Related]:
    reg = entry.registration
    if entry.kind == "entry" or reg is None:
        return []
    name = ctx.program.name_of(entry.func)
    lead = "also reached from " if also else ""
    return [Related(reg.file, reg.line,
                    f"{lead}{name}() registered as {entry.kind} by {api_name(reg)}()", reg.call.col)]


def entry_order(entry, chain) -> tuple:
    """Shortest chain first, then the registration's place in the source, then the name."""
    reg = entry.registration
    where = (reg.file, reg.line, reg.call.col) if entry.kind != "entry" and reg else ("", 0, 0)
    position = next((i for i, a in enumerate(reg.call.args) if entry.func in a.funcs), 0) \
        if entry.kind != "entry" and reg else 0
    return (len(chain), where, position, entry.func, entry.kind)


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


def _locks(names) -> str:
    return ", ".join(names) if names else "no lock"


class LockRequired(Rule):
    code = "QL101"
    name = "lock-required"
    summary = "a function that requires a lock is reached from an entry point without it"
    level = "error"
    tags = ("concurrency", "locking")

    @classmethod
    def inactive_reason(cls, pack) -> str:
        if not any(r.kind == "requires" for r in pack.requirements):
            return "no active [[requires]] entry (the lock it names is not in this tree)"
        return ""

    def check(self, ctx):
        yield from _requirement_findings(self, ctx, "lock")


class OutsideSection(Rule):
    code = "QL203"
    name = "outside-section"
    summary = "a function that must run inside a section is reached where the section is not open"
    level = "error"
    tags = ("concurrency", "sections")

    @classmethod
    def inactive_reason(cls, pack) -> str:
        if not pack.inside:
            why = [w for item, w in pack.inactive if item.origin.table == "inside"]
            return "no active [[inside]] entry" + (f": {why[0]}" if why else "")
        return ""

    def check(self, ctx):
        yield from _requirement_findings(self, ctx, "section")


def _requirement_findings(rule_, ctx, section_kind: str):
    """Unmet requirements on locks (QL101) or sections (QL203) that rule packs name by
    function; those that annotations declare are QL301..QL303's."""
    kinds = ctx.pack.section_kinds()
    for f in _entry_findings(rule_, ctx, "requires", lambda lock: kinds.get(lock) == section_kind,
                             by_attribute=False):
        yield f
    for key, summary in sorted(ctx.locks.summaries.items()):
        for local in summary.local:
            if local.kind == "released" and kinds.get(local.witness.lock) == section_kind \
                    and not local.witness.by_attribute:
                verb = "released" if section_kind == "lock" else "ended"
                yield _local_finding(rule_, ctx, local.witness,
                                     f"{local.witness.lock} was {verb} by {ctx.program.name_of(key)}()")


class LockExcluded(Rule):
    code = "QL103"
    name = "lock-excluded"
    summary = "a function that must run without a lock is called with it held"
    level = "error"
    tags = ("concurrency", "locking", "deadlock")

    @classmethod
    def inactive_reason(cls, pack) -> str:
        if not any(r.kind == "excludes" for r in pack.requirements):
            return "no active [[excludes]] entry"
        return ""

    def check(self, ctx):
        kinds = ctx.pack.section_kinds()
        yield from _entry_findings(self, ctx, "excludes", lambda lock: kinds.get(lock) == "lock")
        for key, summary in sorted(ctx.locks.summaries.items()):
            for local in summary.local:
                if local.kind == "held" and kinds.get(local.witness.lock) == "lock":
                    yield _local_finding(self, ctx, local.witness,
                                         f"{local.witness.lock} is held by {ctx.program.name_of(key)}()")


def _entry_findings(rule_, ctx, kind: str, wanted=lambda lock: True, by_attribute=None):
    """One finding per violating call; its trace is the best entry point's chain, the other
    entry points that reach the same call are related locations."""
    analysis = ctx.locks
    candidates: dict[tuple, list] = {}
    for entry in analysis.entry_points():
        summary = analysis.summary(entry.func)
        table = summary.requires if kind == "requires" else summary.excludes
        for lock in sorted(l for l in table if wanted(l)):
            holding = lock in entry.holds
            if (kind == "requires") == holding:
                continue
            for chain in analysis.chains(entry.func, lock, kind):
                last = chain[-1]
                if by_attribute is not None and last.by_attribute != by_attribute:
                    continue
                key = (last.caller, id(last.call), last.required, lock)
                candidates.setdefault(key, []).append((entry, chain))
    for (_caller, _call, required, lock), found in candidates.items():
        found.sort(key=lambda ec: entry_order(*ec))
        entry, chain = found[0]
        finding = _chain_finding(rule_, ctx, kind, entry, chain, required, lock)
        seen = {(entry.func, entry.kind)}
        for other, _chain in found[1:]:
            if (other.func, other.kind) not in seen and len(finding.related) < MAX_RELATED:
                seen.add((other.func, other.kind))
                finding.related += registration_related(ctx, other, also=True)
        yield finding


MAX_RELATED = 20


def _chain_finding(rule_, ctx, kind, entry, chain, required, lock) -> Finding:
    last = chain[-1]
    fn = ctx.program.functions[last.caller]
    entry_name = ctx.program.name_of(entry.func)
    if kind == "requires" and rule_.code == "QL203":
        message = (f"{required}() must run inside the {lock} section, which is not open on this "
                   f"path from {entry.kind} {entry_name}()")
        last_note = f"calls {required}() outside {lock}"
    elif kind == "requires":
        message = (f"{required}() requires {lock}, which is not held on this path from "
                   f"{entry.kind} {entry_name}()")
        last_note = f"calls {required}() without {lock}"
    else:
        message = (f"{required}() must not be called with {lock} held, which it is on this path "
                   f"from {entry.kind} {entry_name}()")
        last_note = f"calls {required}() with {lock} held"
    trace = [entry_step(ctx, entry)] + call_steps(ctx, chain, last_note)
    return Finding(rule=rule_.code, name=rule_.name, path=fn.file, line=last.call.line,
                   column=last.call.col, function=fn.name, message=message,
                   detail=f"{required}|{lock}", trace=trace,
                   related=registration_related(ctx, entry), level=rule_.level)


def _local_finding(rule_, ctx, witness, why: str) -> Finding:
    fn = ctx.program.functions[witness.caller]
    analysis = ctx.locks
    name = witness.required or ctx.program.name_of(witness.target)
    chain = [witness]
    if not witness.terminal:
        tails = analysis.chains(witness.target, witness.lock,
                                "excludes" if rule_.code == "QL103" else "requires")
        if tails:
            chain += min(tails, key=len)
    required = chain[-1].required
    if rule_.code == "QL203":
        message = f"{required}() must run inside the {witness.lock} section, but {why} before this call"
        last_note = f"calls {required}() outside {witness.lock}"
    elif rule_.code == "QL101":
        message = f"{required}() requires {witness.lock}, but {why} before this call"
        last_note = f"calls {required}() without {witness.lock}"
    else:
        message = f"{required}() must not be called with {witness.lock} held, but {why} here"
        last_note = f"calls {required}() with {witness.lock} held"
    trace = [Step(fn.name, fn.file, fn.line, f"{fn.name}() (callers unknown or irrelevant)")]
    trace += call_steps(ctx, chain, last_note)
    return Finding(rule=rule_.code, name=rule_.name, path=fn.file, line=witness.call.line,
                   column=witness.call.col, function=fn.name, message=message,
                   detail=f"{name}|{witness.lock}|local", trace=trace, level=rule_.level)
