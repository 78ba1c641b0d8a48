"""Values of the replay: small hashable tuples, so machine states can be compared and hashed.

    int                         a C integer (pointers that are NULL are 0)
    UNKNOWN                     a value the model does not know (an external function's result)
    ("obj", key)                a pointer to an object: key is a record type (the scenario's
                                object of that record: a parameter bound by type, an access
                                whose pointer cannot be followed), (record, owner, path) for
                                the object a field nobody set points to, ("req", n) for the
                                n-th request the kernel's ring completed, ("stale", slot) for a
                                ring slot the kernel never filled, ("global", name)
    ("inner", pointer)          a pointer into an object (container_of() moves it back)
    ("addr", key, path)         the address of a field of an object (&s->e, &s->io_q.pending)
    ("local", name)             the address of a local variable (an out-parameter)
    ("ctx", name)               an AioContext: "main", "iohandler", "iothread0"
    ("bh", n), ("co", n)        a bottom half, a coroutine created in the scenario
    ("timer", n)                a timer
    ("func", key)               a function
    ("ring", head)              the kernel ring's `struct io_event *events` as peeked at head
    ("ev", slot)                &events[i]: the event in ring slot `slot`
    ("node",)                   the scenario's BlockDriverState
"""
from __future__ import annotations


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "?"

    def __reduce__(self):
        return "UNKNOWN"


UNKNOWN = _Unknown()


def truth(value):
    """C truth of a value: True/False, or UNKNOWN."""
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, int):
        return value != 0
    return True                      # a pointer to something


def is_pointer(value) -> bool:
    return isinstance(value, tuple)


def object_name(key) -> str:
    """An object as the timeline names it: its record ("LinuxAioState"), a request of the
    kernel's ring ("request 0", "ring slot 3"), an object a field points to
    ("qemu_laiocb(LinuxAioState.io_q.pending.sqh_first)")."""
    if isinstance(key, str):
        return key
    if key[0] == "global":
        return key[1]
    if key[0] == "req":
        return f"request {key[1]}"
    if key[0] == "stale":
        return f"ring slot {key[1]}"
    record, owner, path = key
    return f"{record}({object_name(owner)}.{path})"


def show(value) -> str:
    """How the timeline prints a value."""
    if value is UNKNOWN or value is None:
        return "?"
    if isinstance(value, int):
        return str(value)
    kind = value[0]
    if kind == "obj":
        return object_name(value[1])
    if kind == "ctx":
        return f"AioContext {value[1]}"
    if kind == "co" and isinstance(value[1], tuple):
        return f"coroutine of request {value[1][1]}"
    return f"{kind} {value[1]}" if len(value) > 1 else kind
