"""The whole-program call graph, including QEMU's callbacks.

Two kinds of edges:
  * synchronous calls, through which lock state flows: direct calls; calls through a struct
    field (`bs->drv->bdrv_co_preadv(...)` reaches every function stored into
    BlockDriver.bdrv_co_preadv anywhere); calls through a local pointer whose function is known;
    calls through a function parameter (resolved to what the callers pass);
  * registrations, which make the registered function an entry point of some kind (an fd
    handler, a BH, a coroutine ...) that starts later with the lock state of its kind. They come
    from the pack's [[callback]] and [[deferral]] APIs, and from wrappers: a function that passes
    its own parameter to such an API registers whatever its callers pass there.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ..facts.ir import Call
from .program import Program


@dataclass(slots=True)
class Registration:
    func: str            # the registered function
    kind: str            # entry kind ("fd-handler", "bh", ...)
    api: str             # the registering API as called
    caller: str          # the function whose body registers it
    call: Call
    file: str
    line: int
    wrapper: str = ""    # the wrapper the registration went through, if any
    deferral: bool = False
    opaque: int | None = None   # the argument the function receives first ([[callback]] opaque)


@dataclass(slots=True)
class CallEdge:
    caller: str
    callee: str
    kind: str            # "call" | "field" | "pointer" | "param"
    label: str           # the field, pointer or parameter called through
    call: Call


def _by_name(items, matcher_of) -> dict:
    """Entries by the name their matcher looks for (a function or a macro name)."""
    out = defaultdict(list)
    for item in items:
        out[matcher_of(item).name].append(item)
    return out


def _candidates(index: dict, call: Call) -> list:
    found = index.get(call.name, [])
    return found + index.get(call.macro, []) if call.macro else found


def _callback_funcs(arg, source: str) -> tuple:
    """The functions an argument hands over: named in it, or, for an object produced by
    `source` (a coroutine), given to the call that produced it."""
    if source:
        return arg.source_funcs if arg.source == source else ()
    return arg.funcs


def _spelled(call: Call, matcher) -> str:
    """The API as the code spells it: the macro (aio_bh_new) when the call is its expansion."""
    return call.macro if call.macro and call.macro.startswith(matcher.name.rsplit("_full", 1)[0]) \
        else matcher.name


class CallGraph:
    def __init__(self, program: Program, pack):
        self.program = program
        self.pack = pack
        self.targets: dict[int, list[str]] = {}
        self.edges_from: dict[str, list[CallEdge]] = defaultdict(list)
        self.edges_to: dict[str, list[CallEdge]] = defaultdict(list)
        self.registrations: list[Registration] = []
        self.registered: dict[str, list[Registration]] = defaultdict(list)
        self._wrappers: dict[str, set[tuple[int, str, str, bool]]] = defaultdict(set)
        self._apis = _by_name(pack.callbacks, lambda c: c.api)
        self._deferrals = _by_name(pack.deferrals, lambda d: d.api)
        # function -> (parameter index, call through it, function making the call)
        self._param_calls: dict[str, list[tuple[int, Call, str]]] = defaultdict(list)
        self._entered: set[tuple[str, str]] = set()   # (source API, function) entered here
        self._provided: dict[tuple[int, str], set] = {}  # (call, invoked function) -> holds
        # Functions stored into a field a call goes through, declared where they are stored but
        # defined in no analysed file: named, their declarations still count.
        self.outside: dict[int, list[str]] = {}
        self._build()

    # ---- construction -------------------------------------------------------------------

    def _build(self) -> None:
        program = self.program
        for key in sorted(program.functions):
            fn = program.functions[key]
            start, self._entered = len(self.registrations), set()
            for block in fn.blocks:
                for event in block.events:
                    if isinstance(event, Call):
                        self._call(fn, event)
            if self._entered:
                # A coroutine this function creates and enters itself starts at the entering
                # call (qemu_coroutine_enter: in the caller's state; aio_co_enter: as an entry
                # point), not as a separate entry point from its creation.
                self.registrations[start:] = [
                    r for r in self.registrations[start:]
                    if (r.call.name, r.func) not in self._entered]
        self._resolve_wrappers()
        self._resolve_param_calls()
        for key in self.edges_from:
            self.edges_from[key].sort(key=lambda e: (e.call.line, e.call.col, e.callee))
        for key in self.edges_to:
            self.edges_to[key].sort(key=lambda e: (e.caller, e.call.line, e.call.col))
        self.registrations.sort(key=lambda r: (r.func, r.kind, r.file, r.line, r.api))
        for reg in self.registrations:
            self.registered[reg.func].append(reg)

    def _call(self, fn, call: Call) -> None:
        program = self.program
        if call.callee:
            kind, label, targets = "call", "", program.targets_of_key(call.callee)
        elif call.via.startswith("*"):
            var = call.via[1:]
            kind, label = "pointer", var
            targets = self._resolve_name(call.name, fn.file) if call.name != var else []
            if var in fn.params:
                self._param_calls[fn.key].append((fn.params.index(var), call, fn.key))
        elif call.via:
            kind, label = "field", call.via
            stored = {s.func for s in program.field_funcs.get(call.via, ())}
            targets = sorted(f for f in stored if f in program.functions)
            if len(targets) < len(stored):
                self.outside[id(call)] = sorted(f for f in stored if f not in program.functions)
        else:
            kind, label, targets = "call", "", []
        self._set_targets(fn.key, call, targets, kind, label)
        for cb in _candidates(self._apis, call):
            if not cb.api.matches(call):
                continue
            if cb.source:
                self._entered.update((cb.source, t) for pos in cb.args if pos < len(call.args)
                                     for f in _callback_funcs(call.args[pos], cb.source)
                                     for t in self._function_keys(f))
            if cb.invoke:
                funcs = [t for pos in cb.args if pos < len(call.args)
                         for f in _callback_funcs(call.args[pos], cb.source)
                         for t in self._function_keys(f)]
                self._set_targets(fn.key, call, funcs, "invoke", _spelled(call, cb.api))
                for t in funcs:
                    held = self._provided.setdefault((id(call), t), set())
                    held.update(cb.holds)
            else:
                self._register_args(fn, call, cb.args, cb.entry, _spelled(call, cb.api), False,
                                    source=cb.source, opaque=cb.opaque)
        for d in _candidates(self._deferrals, call):
            if d.api.matches(call):
                self._register_args(fn, call, (d.callback_arg,), d.entry, _spelled(call, d.api), True)

    def _set_targets(self, caller: str, call: Call, targets, kind: str, label: str) -> None:
        existing = self.targets.setdefault(id(call), [])
        for t in targets:
            if t in existing:
                continue
            existing.append(t)
            edge = CallEdge(caller, t, kind, label, call)
            self.edges_from[caller].append(edge)
            self.edges_to[t].append(edge)

    def _resolve_name(self, name: str, file: str) -> list[str]:
        """A function named in a pointer's initializer: the static one of this file, else the
        external definitions."""
        local = f"{name}@{file}"
        if local in self.program.functions:
            return [local]
        return self.program.definitions.get(name, [])

    def _register_args(self, fn, call: Call, positions, kind: str, api: str, deferral: bool,
                       wrapper: str = "", source: str = "", opaque: int | None = None) -> bool:
        added = False
        for pos in positions:
            if pos >= len(call.args):
                continue
            arg = call.args[pos]
            for func in _callback_funcs(arg, source):
                for target in self._function_keys(func):
                    self.registrations.append(Registration(
                        func=target, kind=kind, api=api, caller=fn.key, call=call, file=fn.file,
                        line=call.line, wrapper=wrapper, deferral=deferral, opaque=opaque))
            if arg.text in fn.params:
                entry = (fn.params.index(arg.text), kind, api, deferral)
                if entry not in self._wrappers[fn.key]:
                    self._wrappers[fn.key].add(entry)
                    added = True
        return added

    def _function_keys(self, key: str) -> list[str]:
        return self.program.targets_of_key(key)

    def _resolve_wrappers(self) -> None:
        """Registrations through functions that pass their parameter on to a callback API."""
        changed = True
        done: set[tuple[str, int]] = set()
        while changed:
            changed = False
            for wrapper in sorted(self._wrappers):
                for pos, kind, api, deferral in sorted(self._wrappers[wrapper]):
                    for edge in list(self.edges_to.get(wrapper, ())):
                        if (id(edge.call), pos) in done:
                            continue
                        done.add((id(edge.call), pos))
                        caller = self.program.functions[edge.caller]
                        if self._register_args(caller, edge.call, (pos,), kind, api, deferral,
                                               wrapper=self.program.name_of(wrapper)):
                            changed = True

    def _resolve_param_calls(self) -> None:
        """A call through parameter i reaches what each caller passes at position i; a caller
        that passes its own parameter on has the call resolved from its callers in turn. The
        edges stay the calling function's: only the targets come from further up."""
        changed = True
        while changed:
            changed = False
            for key in sorted(self._param_calls):
                for pos, call, owner in self._param_calls[key]:
                    for edge in list(self.edges_to.get(key, ())):
                        if pos >= len(edge.call.args):
                            continue
                        arg = edge.call.args[pos]
                        funcs = [t for f in arg.funcs for t in self._function_keys(f)]
                        before = len(self.targets.get(id(call), ()))
                        self._set_targets(owner, call, funcs, "param", call.via[1:])
                        caller = self.program.functions[edge.caller]
                        if arg.text in caller.params:
                            item = (caller.params.index(arg.text), call, owner)
                            if item not in self._param_calls[edge.caller]:
                                self._param_calls[edge.caller].append(item)
                                changed = True
                        changed |= len(self.targets.get(id(call), ())) != before

    # ---- queries --------------------------------------------------------------------------

    def callees(self, call: Call) -> list[str]:
        return self.targets.get(id(call), [])

    def callees_outside(self, call: Call) -> list[str]:
        """Functions a call through a field may reach that no analysed file defines."""
        return self.outside.get(id(call), []) if self.outside else []

    def provided(self, call: Call, target: str) -> set:
        """What an invoking call provides the function it runs ([[callback]] holds)."""
        return self._provided.get((id(call), target), set()) if self._provided else set()

    def callers_of(self, key: str) -> list[CallEdge]:
        return self.edges_to.get(key, [])

    def call_edges(self) -> int:
        return sum(len(v) for v in self.edges_from.values())
