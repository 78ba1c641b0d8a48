"""What the active rule pack says each call does: begin or end a section (locks are sections),
hand sections to a deferred callback, require or exclude a lock."""
from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass

from ..facts.ir import Call
from ..pack.model import Requirement


@dataclass(frozen=True, slots=True)
class SectionOp:
    op: str              # "begin" | "end" | "switch" (held from now on by execution context)
                         # | "try" (begins where the call's result is `success`)
                         # | "clear" (asserts that no instance is held: none is after it)
    section: str
    ident: str           # the instance: the argument's identity or spelling ("" if none)
    handle: str = ""     # for "end": the guard variable whose acquire it undoes
    handle_only: bool = False   # closes only through a guard bound to this section
    arg: str = ""        # the argument's spelling (dereferenced: known non-NULL afterwards)
    success: bool = False   # for "try": the truth of the result where it locked

    @property
    def counts(self) -> bool:
        """Whether it opens or closes an instance (not a context switch or an assertion)."""
        return self.op in ("begin", "try", "end")


@dataclass(frozen=True, slots=True)
class DeferralOp:
    callback_arg: int
    api: str


def instance_of(call: Call, arg_index: int) -> str:
    if arg_index >= len(call.args):
        return ""
    arg = call.args[arg_index]
    return arg.key or "".join(arg.text.split())


class Semantics:
    def __init__(self, pack, program):
        self.pack = pack
        self.program = program
        self.kinds = pack.section_kinds()
        self.recursive = {s.name for s in pack.sections if s.recursive}
        self._ops: dict[int, tuple] = {}
        self._by_name: dict[str, list] = {}
        for s in pack.sections:
            for op, matchers in (("begin", s.begin), ("end", s.end), ("switch", s.switch),
                                 ("clear", s.unheld)):
                for m in matchers:
                    self._by_name.setdefault(m.name, []).append((op, s, m, False))
            for m, success in s.try_begin:
                self._by_name.setdefault(m.name, []).append(("try", s, m, success))
        self.requires: dict[str, list] = {}
        self.excludes: dict[str, list] = {}
        self.looked_up: set | None = None   # where set, the names pack_requirements is asked
        self.attr_requires: dict[str, list] = {}
        self.attr_excludes: dict[str, list] = {}
        for r in pack.requirements:
            if r.attribute:
                (self.attr_requires if r.kind == "requires" else self.attr_excludes).setdefault(
                    r.attribute, []).append(r)
                continue
            table = self.requires if r.kind == "requires" else self.excludes
            for function in self._functions_named(r.function):
                table.setdefault(function, []).append(r)
        # What each attribute speaks about (the locks its requirements and contracts name):
        # a declaration that says something about a lock is what callers go by for it.
        self.attr_locks: dict[str, set] = {}
        for r in pack.requirements:
            if r.attribute:
                self.attr_locks.setdefault(r.attribute, set()).add(r.lock)
        for c in pack.contracts:
            if c.attribute:
                self.attr_locks.setdefault(c.attribute, set()).update(c.holds + c.accepts)
        self._caller_attrs: dict[str, tuple] = {}
        self.contracts: dict[str, set] = {}
        self.accepts: dict[str, set] = {}
        self.function_contracts = [c for c in pack.contracts if c.function]
        self.boundaries = list(pack.boundaries)
        self._boundary: dict[str, bool] = {}
        for c in pack.contracts:
            if c.attribute:
                self.contracts.setdefault(c.attribute, set()).update(c.holds)
                self.accepts.setdefault(c.attribute, set()).update(c.accepts)
        self._by_attr: dict[str, list] = {}
        for sec in pack.sections:
            for op, attrs in (("begin", sec.begin_attrs), ("end", sec.end_attrs),
                              ("switch", sec.switch_attrs)):
                for a in attrs:
                    self._by_attr.setdefault(a, []).append((op, sec))
        # [[inside]]: a function that must run inside a section requires that section.
        for i in pack.inside:
            self.requires.setdefault(i.function, []).append(
                Requirement(function=i.function, lock=i.section, kind="requires", origin=i.origin))
        self.lock_names = {s.name for s in pack.sections}
        self._deferrals: dict[str, list] = {}
        self._deferral_of: dict[int, DeferralOp | None] = {}
        for d in pack.deferrals:
            self._deferrals.setdefault(d.api.name, []).append(d)
        self._noreturn: dict[str, list] = {}
        for n in pack.noreturn:
            for m in n.function:
                self._noreturn.setdefault(m.name, []).append(m)
        self._transactions: dict[str, list] = {}
        for t in pack.transactions:
            for op, matchers in (("add", t.add), ("run", t.run)):
                for m in matchers:
                    self._transactions.setdefault(m.name, []).append((op, m, t))

    def section_ops(self, call: Call) -> tuple[SectionOp, ...]:
        cached = self._ops.get(id(call))
        if cached is not None:
            return cached
        ops, claimed = [], set()
        candidates = self._by_name.get(call.name, []) + \
            (self._by_name.get(call.macro, []) if call.macro else [])
        for op, section, matcher, success in candidates:
            if not matcher.matches(call):
                continue
            ident = instance_of(call, section.arg) if op != "clear" else ""
            handle = call.args[0].text.lstrip("&") if op == "end" and call.args else ""
            handle_only = False
            if section.field and op != "clear":
                if ident == section.field:
                    claimed.add(op)
                elif op == "end" and handle.isidentifier():
                    # A release through a guard variable (`cleanup(&guard)`) names no field;
                    # it closes this section if the guard was bound to it.
                    handle_only = True
                else:
                    continue
            arg = call.args[section.arg].text if section.arg < len(call.args) else ""
            ops.append((bool(section.field), SectionOp(op, section.name, ident, handle,
                                                      handle_only, arg, success)))
        # A lock declared for one field (PageDesc.lock) claims its instances from the generic
        # lock of the same API (QemuSpin): one lock, counted once, by its most specific name.
        ops = [o for specific, o in ops if specific or o.op not in claimed]
        if call.callee and self._by_attr:
            for attr in self.program.attrs(call.callee):
                for op, section in self._by_attr.get(attr, ()):
                    ops.append(SectionOp(op, section.name, instance_of(call, section.arg)))
        result = tuple(dict.fromkeys(ops))
        self._ops[id(call)] = result
        return result

    def asserted(self, call: Call) -> tuple[str, ...]:
        """The locks the callee's attributes say it asserts held (a lock's switch_attribute:
        TSA_ASSERT_SHARED on `assume_graph_lock()`): it takes nothing, it claims them."""
        if not call.callee or not self._by_attr:
            return ()
        return tuple(dict.fromkeys(sec.name for a in self.program.attrs(call.callee)
                                   for op, sec in self._by_attr.get(a, ()) if op == "switch"))

    def deferral(self, call: Call) -> DeferralOp | None:
        key = id(call)
        if key not in self._deferral_of:
            self._deferral_of[key] = next(
                (DeferralOp(d.callback_arg, d.api.name) for d in
                 self._deferrals.get(call.name, []) +
                 (self._deferrals.get(call.macro, []) if call.macro else []) if d.api.matches(call)),
                None)
        return self._deferral_of[key]

    def _functions_named(self, function: str) -> list[str]:
        """What a requirement's `function` names: a function or "Record.field" by name, or,
        written "name@file" (a static function, as `qlint infer` writes it), that function's
        key, the file given relative to where qlint runs or absolute."""
        name, at, file = function.partition("@")
        if not at or os.path.isabs(file):
            return [function]
        suffix = os.sep + os.path.normpath(file)
        return [key for key in self.program.by_name.get(name, ())
                if key.partition("@")[2].endswith(suffix)] or [function]

    def operation_names(self) -> set[str]:
        """The functions whose calls begin, end or switch a lock or section."""
        return set(self._by_name)

    def exclusive(self, section: str) -> bool:
        """Whether `section` is a lock that cannot be taken twice (not `recursive`)."""
        return self.kinds.get(section) == "lock" and section not in self.recursive

    def operates(self, name: str, section: str) -> bool:
        """Whether calls of `name` begin, end or switch `section`."""
        return any(entry[1].name == section for entry in self._by_name.get(name, ()))

    def runs_actions(self, name: str) -> bool:
        """Whether `name` is a function that runs a transaction's actions (tran_commit): its
        own body reaches every action of the program; its calls are judged at its callers."""
        return any(op == "run" for op, _m, _t in self._transactions.get(name, ()))

    def noreturn(self, call: Call) -> bool:
        """Whether the call does not return ([[noreturn]])."""
        return any(m.matches(call) for m in self._noreturn.get(call.name, ()))

    def transaction(self, call: Call):
        """("add", [[transaction]]) for a call that adds an action to a transaction, ("run",
        ...) for one that runs a transaction's actions, else None."""
        if not self._transactions:
            return None
        for op, matcher, t in self._transactions.get(call.name, ()):
            if matcher.matches(call):
                return op, t
        return None

    def pack_requirements(self, name: str, kind: str) -> list:
        if self.looked_up is not None:
            self.looked_up.add(name)
        return (self.requires if kind == "requires" else self.excludes).get(name, [])

    def changed_requirements(self, other: Semantics) -> set[str] | None:
        """The names whose [[requires]] or [[excludes]] entries by name differ in `other`; None
        if anything else differs (an attribute's requirements)."""
        if (self.attr_requires, self.attr_excludes) != (other.attr_requires, other.attr_excludes):
            return None
        return {name for mine, theirs in ((self.requires, other.requires),
                                          (self.excludes, other.excludes))
                for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name)}

    def call_requirements(self, call: Call, targets, kind: str) -> list:
        """(name, Requirement) of the [[requires]] or [[excludes]] entries by name that a call
        meets: on the name called, the field called through ("Record.field"), and each
        function it reaches, by name or, for a static function, by key. `name` is how
        findings call it."""
        field = [call.through_field] if call.through_field else []
        names = dict.fromkeys([call.name] + field + [n for t in targets
                                                     for n in (self.program.name_of(t), t)])
        return [(self.program.name_of(n) if "@" in n else n, r) for n in names
                for r in self.pack_requirements(n, kind)]

    def attribute_requirements(self, attrs, kind: str) -> list:
        """Requirements a declaration with these attributes carries ([[requires]] attribute)."""
        table = self.attr_requires if kind == "requires" else self.attr_excludes
        return [r for a in attrs for r in table.get(a, ())]

    def caller_attrs(self, key: str) -> tuple:
        """The attributes callers of `key` go by: its declarations', plus those of its
        definition about locks no declaration speaks of. A function declared
        coroutine_mixed_fn and defined coroutine_fn is mixed to its callers; one defined
        GRAPH_RDLOCK behind a plain declaration still needs the lock."""
        found = self._caller_attrs.get(key)
        if found is None:
            declared = self.program.decl_attrs.get(key, ())
            fn = self.program.functions.get(key)
            spoken = {lock for a in declared for lock in self.attr_locks.get(a, ())}
            own = tuple(a for a in (fn.attrs if fn else ())
                        if not self.attr_locks.get(a, set()) & spoken)
            found = self._caller_attrs[key] = tuple(dict.fromkeys(declared + own))
        return found

    def contract_holds(self, name: str, attrs) -> tuple:
        """What a function with this name and these attributes may assume held at its entry
        ([[contract]] holds)."""
        named = {h for c in self._named(name) for h in c.holds}
        return tuple(sorted(named | {h for a in attrs for h in self.contracts.get(a, ())}))

    def contract_accepts(self, name: str, attrs) -> frozenset:
        """What it answers for itself ([[contract]] accepts)."""
        named = {h for c in self._named(name) for h in c.accepts}
        return frozenset(named | {h for a in attrs for h in self.accepts.get(a, ())})

    def is_boundary(self, name: str) -> bool:
        """Whether calls of `name` are not followed for requirements ([[boundary]])."""
        found = self._boundary.get(name)
        if found is None:
            found = self._boundary[name] = any(
                fnmatch.fnmatchcase(name, b.function) for b in self.boundaries)
        return found

    def _named(self, name: str) -> list:
        return [c for c in self.function_contracts if fnmatch.fnmatchcase(name, c.function)]
