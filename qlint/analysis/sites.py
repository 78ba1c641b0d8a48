"""The lock state at each call, as the paths of its function reach it: what counting call
sites needs (qlint/infer/observed.py). Per call, three sets of lock and section names: held on
every path that reaches it, held on some path, and released on some path (ended there although
the function's caller had begun it). Kept small: a call whose paths hold nothing shares one
record, and a function explored without paths (it changes no lock) keeps none at all."""
from __future__ import annotations

EMPTY: frozenset = frozenset()
NOTHING = (EMPTY, EMPTY, EMPTY)        # (every path, some path, released on some path)


def note(held_at: dict, call, state) -> None:
    """Fold one path's state at `call` into its record."""
    key = id(call)
    record = held_at.get(key)
    if not (state.held or state.ambient or state.below):
        if record is None:
            held_at[key] = NOTHING
        elif record[0]:
            held_at[key] = (EMPTY, record[1], record[2])
        return
    held = frozenset([s for s, _i, _c, _l in state.held] + list(state.ambient))
    below = frozenset(b[0] for b in state.below)
    if record is None:
        held_at[key] = (held, held, below)
    else:
        held_at[key] = (record[0] & held, record[1] | held, record[2] | below)


def state_at(held_at: dict, call) -> tuple:
    return held_at.get(id(call), NOTHING)
