"""Accessors: functions that only read or only store an expression of their parameters, seen
through at their call sites.

QEMU hides fields behind small inline functions (`tb_page_addr0(tb)` returns
`tb->page_addr[0]`, `tb_set_page_addr0(tb, addr)` stores `addr` there). A condition that tests
`tb_page_addr0(tb) == -1` tests the field, and a path that stored `phys_pc` there and took
`phys_pc != -1` cannot take it: the analyses compare conditions by the getter's expression
with the call's arguments put in, and treat a setter's call as the store it makes.

A getter's body is straight-line code that returns one expression built from its parameters,
fields, array elements, constants and operators (no call); a setter's, one plain store (`=`)
of such an expression into such an lvalue, and nothing else but reads.
"""
from __future__ import annotations

from typing import NamedTuple

from .ir import Access, Call, Return


class Getter(NamedTuple):
    params: tuple
    value: tuple             # the returned expression's tree


class Setter(NamedTuple):
    params: tuple
    lvalue: tuple            # the tree of what it stores into
    value: tuple             # the tree of what it stores


def accessors(functions) -> dict:
    """Getter or Setter of each function (by key) that is one."""
    out = {}
    for key, fn in functions.items():
        accessor = accessor_of(fn)
        if accessor is not None:
            out[key] = accessor
    return out


def accessor_of(fn):
    if not fn.params or any(len(b.succs) > 1 for b in fn.blocks):
        return None
    events = [e for b in fn.blocks for e in b.events]
    if any(type(e) is Call for e in events):
        return None
    params = set(fn.params)
    returns = [e for e in events if type(e) is Return and e.expr is not None]
    stores = [e for e in events if type(e) is Access and e.mode != "r"]
    others = [e for e in events if type(e) not in (Access, Return)]
    if others:
        return None
    if len(returns) == 1 and not stores and _plain(returns[0].expr, params):
        return Getter(fn.params, returns[0].expr)
    if not returns and len(stores) == 1 and stores[0].op == "=" and \
            stores[0].lvalue is not None and stores[0].value is not None and \
            _plain(stores[0].lvalue, params) and _plain(stores[0].value, params):
        return Setter(fn.params, stores[0].lvalue, stores[0].value)
    return None


def substitute(tree, params: tuple, args: tuple):
    """`tree` with each parameter replaced by the tree of the call's argument, or None where
    an argument has no tree."""
    op = tree[0]
    if op == "var" and tree[2] in params:
        arg = args[params.index(tree[2])] if params.index(tree[2]) < len(args) else None
        return arg.expr if arg is not None else None
    kids = []
    for kid in tree[2:]:
        if isinstance(kid, tuple):
            kid = substitute(kid, params, args)
            if kid is None:
                return None
        kids.append(kid)
    return (op, tree[1], *kids)


_PLAIN = {"field", "[]", "int", "cast", "!", "-", "~", "+", "*", "/", "%", "<<", ">>", "&",
          "|", "^", "==", "!=", "<", "<=", ">", ">=", "&&", "||"}


def _plain(tree, params: set) -> bool:
    """Built from parameters, fields, elements, constants and operators only."""
    op = tree[0]
    if op == "var":
        return tree[2] in params
    if op not in _PLAIN:
        return False
    return all(_plain(kid, params) for kid in tree[2:] if isinstance(kid, tuple))
