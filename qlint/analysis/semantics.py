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
    section: str
    ident: str           # the instance: the argument's identity or spelling ("" if none)
    handle: str = ""     # for "end": the guard variable whose acquire it undoes
    handle_only: bool = False   # closes only through a guard bound to this section
    arg: str = ""        # the argument's spelling (dereferenced: known non-NULL afterwards)


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
            for m in s.begin:
                self._by_name.setdefault(m.name, []).append(("begin", s, m))
            for m in s.end:
                self._by_name.setdefault(m.name, []).append(("end", s, m))
            for m in s.switch:
                self._by_name.setdefault(m.name, []).append(("switch", s, m))
        self.requires: dict[str, list] = {}
        self.excludes: dict[str, list] = {}
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

    def section_ops(self, call: Call) -> tuple[SectionOp, ...]:
        cached = self._ops.get(id(call))
        if cached is not None:
            return cached
        ops = []
        candidates = self._by_name.get(call.name, []) + \
            (self._by_name.get(call.macro, []) if call.macro else [])
        for op, section, matcher in candidates:
            if not matcher.matches(call):
                continue
            ident = instance_of(call, section.arg)
            handle = call.args[0].text.lstrip("&") if op == "end" and call.args else ""
            handle_only = False
            if section.field and ident != section.field:
                # A release through a guard variable (`cleanup(&guard)`) names no field; it
                # closes this section if the guard was bound to it.
                if op != "end" or not handle.isidentifier():
                    continue
                handle_only = True
            arg = call.args[section.arg].text if section.arg < len(call.args) else ""
            ops.append(SectionOp(op, section.name, ident, handle, handle_only, arg))
        if call.callee and self._by_attr:
            for attr in self.program.attrs(call.callee):
                for op, section in self._by_attr.get(attr, ()):
                    ops.append(SectionOp(op, section.name, instance_of(call, section.arg)))
        result = tuple(dict.fromkeys(ops))
        self._ops[id(call)] = result
        return result

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

    def pack_requirements(self, name: str, kind: str) -> list:
        return (self.requires if kind == "requires" else self.excludes).get(name, [])

    def call_requirements(self, call: Call, targets, kind: str) -> list:
        """(name, Requirement) of the [[requires]] or [[excludes]] entries by name that a call
        meets: on the name called, the field called through ("Record.field"), and each
        function it reaches, by name or, for a static function, by key. `name` is how
        findings call it."""
        field = [call.via] if call.via and not call.via.startswith("*") else []
        names = dict.fromkeys([call.name] + field + [n for t in targets
                                                     for n in (self.program.name_of(t), t)])
        return [(self.program.name_of(n) if "@" in n else n, r) for n in names
                for r in self.pack_requirements(n, kind)]

    def attribute_requirements(self, attrs, kind: str) -> list:
        """Requirements a declaration with these attributes carries ([[requires]] attribute)."""
        table = self.attr_requires if kind == "requires" else self.attr_excludes
        return [r for a in attrs for r in table.get(a, ())]

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
