"""What a path assumed of its function's parameters, as guards a caller's call can contradict:
a parameter it tested (`if (process)`: (index, truth)), a field of one it tested
(`if (s->detached)`: (index, (field, truth))), also through a local that only copies the
parameter (`DumpState *s = opaque`). A guard (index, function key) says which callback a call
through the parameter reached (analysis/locks.py)."""
from __future__ import annotations

import re

from ..facts.ir import Access, Assign

_FIELD = re.compile(r"^(\w+)->(\w+)$")


def parameter_names(fn) -> dict[str, int]:
    """Name -> parameter index: the parameters, and the locals assigned once, from a parameter
    never assigned itself (`DumpState *s = (DumpState *)data`)."""
    names = {p: i for i, p in enumerate(fn.params)}
    stores: dict[str, list] = {}
    for block in fn.blocks:
        for ev in block.events:
            if isinstance(ev, Assign):
                for name in ev.names:
                    stores.setdefault(name, []).append(ev)
    for name, assigns in stores.items():
        source = assigns[0].ref
        if name not in names and len(assigns) == 1 and assigns[0].op == "=" and \
                source in fn.params and source not in stores:
            names[name] = fn.params.index(source)
    return names


def condition_guard(names: dict[str, int], cond: str, value: bool):
    """The guard a branch decision puts on a parameter, or None."""
    if cond in names:
        return (names[cond], value)
    m = _FIELD.match(cond)
    if m and m.group(1) in names:
        return (names[m.group(1)], (m.group(2), value))
    return None


def contradicts(a, b) -> bool:
    """Whether two expectations of the same parameter cannot both hold: opposite truths of it
    or of one field, or two different callbacks."""
    if isinstance(a, tuple) or isinstance(b, tuple):
        return isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] and a[1] != b[1]
    return type(a) is type(b) and a != b


def stored_fields(fn, call, arg: str) -> tuple:
    """(field, truth) of the constants stored into `arg->field` before `call` in its block
    (`s->detached = true; qemu_thread_create(..., s, ...)`), the last store of each field."""
    for block in fn.blocks:
        if not any(ev is call for ev in block.events):
            continue
        found = {}
        for ev in block.events:
            if ev is call:
                break
            if isinstance(ev, Access) and ev.mode == "w" and ev.op == "=":
                m = _FIELD.match(ev.text)
                if m and m.group(1) == arg:
                    value = ev.value
                    if value and value[0] == "int":
                        found[m.group(2)] = bool(value[2])
                    else:
                        found.pop(m.group(2), None)
        return tuple(sorted(found.items()))
    return ()
