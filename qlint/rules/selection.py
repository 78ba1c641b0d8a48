"""Which rules run: `select`, `extend-select` and `ignore` resolved as ruff resolves them.

Selections come in layers, the configuration's first, the command line's last. Within a layer
its selectors apply from the least specific (`QL`) to the most (`QL101`), and at each level its
ignores after its selects: the more specific selector wins (`--select QL101 --ignore QL1` runs
QL101), and at equal specificity ignore wins. A layer that has `select` starts over from what it
selects (the command line's `--select` replaces the configuration's selection, ignores
included); a layer without one adds to and takes from what the layers before it left. A layer
with an empty `select`, no `extend-select` and some `ignore` hands those ignores on to the next
layer, as ruff does.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    select: tuple | None = None          # None: not given (an empty tuple selects nothing)
    extend_select: tuple = ()
    ignore: tuple = ()

    @classmethod
    def of(cls, select, extend_select, ignore) -> Layer:
        return cls(None if select is None else tuple(select), tuple(extend_select or ()),
                   tuple(ignore or ()))


def resolve(codes: list[str], layers: list[Layer]) -> list[str]:
    """The codes, of all rules' `codes`, that the layers leave selected; every one by default."""
    enabled = set(codes)
    carried: tuple = ()
    for layer in layers:
        selects = (layer.select or ()) + layer.extend_select
        ignores = layer.ignore + carried
        updates: dict[str, bool] = {}
        for level in sorted({len(s) for s in selects + ignores}):
            for selectors, on in ((selects, True), (ignores, False)):
                for selector in selectors:
                    if len(selector) == level:
                        updates.update(dict.fromkeys(matching(codes, selector), on))
        carried = ()
        if layer.select is not None:
            enabled = {code for code, on in updates.items() if on}
            if not layer.select and not layer.extend_select:
                carried = layer.ignore
        else:
            enabled = (enabled | {c for c, on in updates.items() if on}) - \
                {c for c, on in updates.items() if not on}
    return [code for code in codes if code in enabled]


def matching(codes: list[str], selector: str) -> list[str]:
    return [code for code in codes if code.startswith(selector)]


def selectors(layers: list[Layer]) -> list[str]:
    """The `select` and `extend-select` selectors of every layer: what a user asked for, rather
    than what runs by default."""
    return sorted({s for layer in layers for s in (layer.select or ()) + layer.extend_select})
