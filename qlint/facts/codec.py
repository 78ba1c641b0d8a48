"""Encode TUFacts as nested lists of plain values and back.

Positional (each record is the list of its field values in declaration order, trailing values
that equal their defaults left out), so a cache entry is small and loads with one json.loads
plus a walk; events carry a one-letter tag because a block's event list mixes kinds; expression
trees are nested lists. FORMAT changes whenever the IR's shape does: a cache entry written with
another FORMAT is ignored.
"""
from __future__ import annotations

from dataclasses import MISSING, fields

from .ir import (Access, Arg, Assign, Block, Call, Comment, Diagnostic, Edge, FieldStore,
                 Function, Return, TUFacts)

FORMAT = 14

_EVENT_TAGS = {Call: "C", Access: "A", Assign: "S", Return: "R"}
_EVENT_TYPES = {tag: cls for cls, tag in _EVENT_TAGS.items()}

# How to rebuild each field that is not a plain value.
_NESTED = {
    Call: {"args": ("tuple", Arg)},
    Arg: {"funcs": ("tuple", None), "source_funcs": ("tuple", None), "expr": ("tree", None)},
    Access: {"lvalue": ("tree", None), "value": ("tree", None)},
    Assign: {"names": ("tuple", None), "expr": ("tree", None), "target": ("tree", None)},
    Return: {"expr": ("tree", None)},
    Edge: {"names": ("tuple", None)},
    Block: {"events": ("events", None), "succs": ("list", Edge), "cond": ("tree", None)},
    Function: {"attrs": ("tuple", None), "params": ("tuple", None),
               "param_types": ("tuple", None), "blocks": ("list", Block)},
    TUFacts: {"functions": ("list", Function), "field_stores": ("list", FieldStore),
              "decl_attrs": ("dict-tuple", None), "field_attrs": ("dict-tuple", None),
              "declared": ("tuple", None),
              "includes": ("tuple", None), "diagnostics": ("list", Diagnostic),
              "comments": ("list", Comment)},
}
_RECORDS = (Access, Arg, Assign, Block, Call, Comment, Diagnostic, Edge, FieldStore, Function,
            Return, TUFacts)
_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in _RECORDS}


def encode(obj):
    """A record as a list of its encoded field values (events get their tag in front), without
    the trailing ones that equal their defaults."""
    cls = type(obj)
    values = [_encode_value(getattr(obj, name)) for name in _FIELD_NAMES[cls]]
    defaults = _DEFAULTS[cls]
    while values and values[-1] == defaults[len(values) - 1]:
        values.pop()
    tag = _EVENT_TAGS.get(cls)
    return [tag, *values] if tag else values


def _encode_value(value):
    if isinstance(value, (list, tuple)):
        return [_encode_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode_value(v) for k, v in value.items()}
    if type(value) in _FIELD_NAMES:
        return encode(value)
    return value


# Each field's default as encoded (None for those without a plain one: never left out).
_DEFAULTS = {cls: tuple(None if f.default is MISSING else _encode_value(f.default)
                        for f in fields(cls)) for cls in _RECORDS}


def decode(cls, data):
    decoder = _DECODERS.get(cls)
    return decoder(data) if decoder else _decode_generic(cls, data)


def _decode_generic(cls, data):
    nested = _NESTED.get(cls, {})
    kwargs = {}
    for name, value in zip(_FIELD_NAMES[cls], data):
        how = nested.get(name)
        if how is not None:
            value = _decode_nested(how, value)
        kwargs[name] = value
    return cls(**kwargs)


def _decode_nested(how, value):
    kind, item_cls = how
    if kind == "tree":
        return tree(value)
    if kind == "events":
        return [decode(_EVENT_TYPES[item[0]], item[1:]) for item in value]
    if kind == "dict-tuple":
        return {k: tuple(v) for k, v in value.items()}
    items = value if item_cls is None else [decode(item_cls, v) for v in value]
    return tuple(items) if kind == "tuple" else list(items)


def tree(value):
    """An expression tree from its encoded form (nested lists) or None."""
    if value is None:
        return None
    return tuple(tree(v) if type(v) is list else v for v in value)


# Positional decoders for the records a cache holds by the hundred thousand: a warm run
# spends most of its time here (field order as declared in ir.py; trailing defaults absent).
def _arg(d):
    n = len(d)
    return Arg(d[0], d[1] if n > 1 else "", tuple(d[2]) if n > 2 else (), d[3] if n > 3 else "",
               tuple(d[4]) if n > 4 else (), tree(d[5]) if n > 5 else None)


def _call(d):
    n = len(d)
    return Call(d[0], d[1], d[2], d[3] if n > 3 else "", d[4] if n > 4 else "",
                tuple(_arg(a) for a in d[5]) if n > 5 else (), d[6] if n > 6 else "",
                d[7] if n > 7 else "", d[8] if n > 8 else False)


def _access(d):
    n = len(d)
    if n <= 6:
        return Access(*d)
    return Access(d[0], d[1], d[2], d[3], d[4], d[5], tree(d[6]), d[7] if n > 7 else "",
                  tree(d[8]) if n > 8 else None)


def _event(item):
    tag = item[0]
    if tag == "C":
        return _call(item[1:])
    if tag == "A":
        return _access(item[1:])
    if tag == "S":
        n = len(item)
        return Assign(tuple(item[1]), item[2], item[3] if n > 3 else None,
                      item[4] if n > 4 else "", item[5] if n > 5 else False,
                      item[6] if n > 6 else "", tree(item[7]) if n > 7 else None,
                      tree(item[8]) if n > 8 else None)
    n = len(item)
    return Return(item[1], item[2], item[3] if n > 3 else None, item[4] if n > 4 else "",
                  tree(item[5]) if n > 5 else None)


def _edge(e):
    n = len(e)
    if n == 1:
        return Edge(e[0])
    return Edge(e[0], e[1], e[2] if n > 2 else "", e[3] if n > 3 else 0,
                tuple(e[4]) if n > 4 else (), e[5] if n > 5 else "", e[6] if n > 6 else None)


def _block(d):
    return Block([_event(e) for e in d[0]] if d else [],
                 [_edge(e) for e in d[1]] if len(d) > 1 else [],
                 tree(d[2]) if len(d) > 2 else None)


def _function(d):
    n = len(d)
    return Function(d[0], d[1], d[2], d[3], d[4], d[5], d[6],
                    tuple(d[7]) if n > 7 else (), tuple(d[8]) if n > 8 else (),
                    tuple(d[9]) if n > 9 else (), [_block(b) for b in d[10]] if n > 10 else [],
                    d[11] if n > 11 else False)


_DECODERS = {Function: _function, Block: _block, Call: _call, Arg: _arg}


def encode_tu(tu: TUFacts) -> list:
    return encode(tu)


def decode_tu(data) -> TUFacts:
    return decode(TUFacts, data)
