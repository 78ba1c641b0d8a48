"""The engine's QEMU knowledge (model.toml): eras, primitives and their argument roles, the
kernel's AIO ring, the guest, the entry kinds it dispatches, and the exploration bounds. Loaded
once and validated; a defect is a one-line error naming the entry."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import QlintError
from ..pack.load import read_toml
from ..pack.model import needs_met

MODEL_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.toml")

OPS = frozenset({
    "bh_new", "bh_schedule", "bh_cancel", "bh_delete", "bh_oneshot", "set_handler",
    "notifier_set", "notifier_test_and_clear", "external_disable", "external_enable", "aio_poll",
    "context", "drained_begin", "drained_end", "defer", "co_create", "co_enter", "co_enter_now",
    "co_yield", "co_wake", "co_entered", "ring_peek", "ring_commit", "ring_advance_and_peek",
    "io_submit", "timer_new", "timer_mod", "timer_del", "thread_create"})
CONTEXTS = frozenset({"main", "iohandler", "node", "current"})
MAIN_ROLES = frozenset({"drain", "submit"})
BOUND_KEYS = ("preemptions", "polls", "loop", "depth", "states", "fires", "values", "choices",
              "pct_runs", "pct_depth")


@dataclass(frozen=True)
class Era:
    name: str
    description: str
    needs: tuple
    main: str                       # what the main thread does: "drain" | "submit"
    queue_while_drained: bool


@dataclass(frozen=True)
class Primitive:
    names: tuple
    op: str
    args: dict                      # role -> argument position
    arity: int | None = None
    needs: tuple = ()
    context: str = ""               # a context the primitive names itself ("main" ...)
    callback: tuple = ()            # roles whose values a deferred callback receives

    def arg(self, call, role: str):
        """The Arg playing `role` in this call, or None."""
        pos = self.args.get(role)
        return call.args[pos] if pos is not None and pos < len(call.args) else None


@dataclass(frozen=True)
class AioRing:
    completions: int
    ring_size: int
    event: dict


@dataclass
class Model:
    eras: list
    primitives: dict = field(default_factory=dict)      # name -> [Primitive]
    ring: AioRing | None = None
    guest_kicks: int = 1
    bounds: dict = field(default_factory=dict)
    entry_kinds: tuple = ()

    def era(self, declared) -> Era:
        return next(e for e in self.eras if needs_met(e.needs, declared))

    def primitive(self, call, declared) -> Primitive | None:
        """The primitive a call is, by its name or the macro that wrote it."""
        for name in (call.name, call.macro):
            for p in self.primitives.get(name, ()) if name else ():
                if (p.arity is None or p.arity == len(call.args)) and needs_met(p.needs, declared):
                    return p
        return None


@lru_cache(maxsize=1)
def load_model() -> Model:
    data, _text = read_toml(MODEL_FILE)
    model = Model(eras=[_era(e) for e in data.get("era", [])],
                  ring=_ring(data.get("aio-ring", {})),
                  guest_kicks=_int(data.get("guest", {}), "kicks", "guest"),
                  bounds={k: _int(data.get("bounds", {}), k, "bounds") for k in BOUND_KEYS},
                  entry_kinds=tuple(data.get("entry", {}).get("kinds", ())))
    if not model.eras or model.eras[-1].needs:
        _bad("era", "the last [[era]] must have no needs (it is the default)")
    for item in data.get("primitive", []):
        p = _primitive(item)
        for name in p.names:
            model.primitives.setdefault(name, []).append(p)
    return model


def _bad(where: str, why: str):
    raise QlintError(f"{MODEL_FILE}: [{where}] {why}")


def _int(table: dict, key: str, where: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        _bad(where, f"'{key}' must be a non-negative integer")
    return value


def _era(item: dict) -> Era:
    if item.get("main") not in MAIN_ROLES:
        _bad("era", f"{item.get('name')}: 'main' must be one of {sorted(MAIN_ROLES)}")
    return Era(name=str(item["name"]), description=str(item.get("description", "")),
               needs=tuple(item.get("needs", ())), main=item["main"],
               queue_while_drained=bool(item.get("queue_while_drained", False)))


def _primitive(item: dict) -> Primitive:
    names = tuple(item.get("names", ()))
    op = item.get("op")
    if not names or op not in OPS:
        _bad("primitive", f"{names or '?'}: needs 'names' and an 'op' of the engine ({op!r})")
    context = item.get("context", "")
    if context and context not in CONTEXTS:
        _bad("primitive", f"{names[0]}: unknown context {context!r}")
    args = item.get("args", {})
    if not all(isinstance(v, int) and v >= 0 for v in args.values()):
        _bad("primitive", f"{names[0]}: argument roles must be positions")
    callback = tuple(item.get("callback", ()))
    if any(role not in args for role in callback):
        _bad("primitive", f"{names[0]}: 'callback' names a role the call has not")
    return Primitive(names=names, op=op, args=dict(args), arity=item.get("arity"),
                     needs=tuple(item.get("needs", ())), context=context, callback=callback)


def _ring(item: dict) -> AioRing:
    if not isinstance(item.get("event"), dict):
        _bad("aio-ring", "'event' must name the fields of a ring event")
    return AioRing(completions=_int(item, "completions", "aio-ring"),
                   ring_size=_int(item, "ring_size", "aio-ring"), event=dict(item["event"]))
