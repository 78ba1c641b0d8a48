"""Values of the replay: small hashable tuples, so machine states can be compared and hashed.

    int                         a C integer (pointers that are NULL are 0)
    UNKNOWN                     a value the model does not know (an external function's result)
    ("obj", key)                a pointer to an object: key is its record type ("LinuxAioState":
                                one object per record type per scenario) or ("req", n) for the
                                n-th request of the linux-aio ring, ("stale", slot) for a slot the
                                kernel never filled
    ("addr", key, path)         the address of a field of an object (&s->e, &s->io_q.pending)
    ("local", name)             the address of a local variable (an out-parameter)
    ("ctx", name)               an AioContext: "main", "iohandler", "iothread0"
    ("bh", n), ("co", n)        a bottom half, a coroutine (("co", ("req", n)) waits for request n)
    ("func", key)               a function
    ("ring", head)              linux-aio's `struct io_event *events` as peeked at ring index head
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


def show(value) -> str:
    """How the timeline prints a value."""
    if value is UNKNOWN:
        return "?"
    if isinstance(value, int):
        return str(value)
    kind = value[0]
    if kind == "obj":
        key = value[1]
        return f"request {key[1]}" if isinstance(key, tuple) and key[0] == "req" else \
            f"ring slot {key[1]}" if isinstance(key, tuple) else key
    if kind == "ctx":
        return f"AioContext {value[1]}"
    if kind == "co" and isinstance(value[1], tuple):
        return f"coroutine of request {value[1][1]}"
    return f"{kind} {value[1]}" if len(value) > 1 else kind
