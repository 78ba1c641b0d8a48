"""Encode TUFacts as nested lists of plain values and back.

Positional (each record is the list of its field values in declaration order), so a cache entry
is small and loads with one json.loads plus a walk; events carry a one-letter tag because a
block's event list mixes kinds. FORMAT changes whenever the IR's shape does: a cache entry
written with another FORMAT is ignored.
"""
from __future__ import annotations

from dataclasses import fields

from .ir import (Access, Arg, Assign, Block, Call, Comment, Diagnostic, Edge, FieldStore,
                 Function, Return, TUFacts)

FORMAT = 12

_EVENT_TAGS = {Call: "C", Access: "A", Assign: "S", Return: "R"}
_EVENT_TYPES = {tag: cls for cls, tag in _EVENT_TAGS.items()}

# How to rebuild each field that is not a plain value.
_NESTED = {
    Call: {"args": ("tuple", Arg)},
    Arg: {"funcs": ("tuple", None), "source_funcs": ("tuple", None)},
    Assign: {"names": ("tuple", None)},
    Edge: {"names": ("tuple", None)},
    Block: {"events": ("events", None), "succs": ("list", Edge)},
    Function: {"attrs": ("tuple", None), "params": ("tuple", None),
               "param_types": ("tuple", None), "blocks": ("list", Block)},
    TUFacts: {"functions": ("list", Function), "field_stores": ("list", FieldStore),
              "decl_attrs": ("dict-tuple", None), "field_attrs": ("dict-tuple", None),
              "declared": ("tuple", None),
              "includes": ("tuple", None), "diagnostics": ("list", Diagnostic),
              "comments": ("list", Comment)},
}
_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls))
                for cls in (Access, Arg, Assign, Block, Call, Comment, Diagnostic, Edge,
                            FieldStore, Function, Return, TUFacts)}


def encode(obj):
    """A record as a list of its encoded field values (events get their tag in front)."""
    cls = type(obj)
    values = [_encode_value(getattr(obj, name)) for name in _FIELD_NAMES[cls]]
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
    if kind == "events":
        return [decode(_EVENT_TYPES[item[0]], item[1:]) for item in value]
    if kind == "dict-tuple":
        return {k: tuple(v) for k, v in value.items()}
    items = value if item_cls is None else [decode(item_cls, v) for v in value]
    return tuple(items) if kind == "tuple" else list(items)


# Positional decoders for the records a cache holds by the hundred thousand: a warm run
# spends most of its time here (field order as declared in ir.py).
def _arg(d):
    return Arg(d[0], d[1], tuple(d[2]), d[3], tuple(d[4]))


def _call(d):
    return Call(d[0], d[1], d[2], d[3], d[4], tuple(_arg(a) for a in d[5]), d[6], d[7], d[8])


def _event(item):
    tag = item[0]
    if tag == "C":
        return _call(item[1:])
    if tag == "A":
        return Access(*item[1:])
    if tag == "S":
        return Assign(tuple(item[1]), *item[2:])
    return Return(*item[1:])


def _block(d):
    return Block([_event(e) for e in d[0]],
                 [Edge(e[0], e[1], e[2], e[3], tuple(e[4]), e[5]) for e in d[1]])


def _function(d):
    return Function(d[0], d[1], d[2], d[3], d[4], d[5], d[6], tuple(d[7]), tuple(d[8]),
                    tuple(d[9]), [_block(b) for b in d[10]], d[11])


_DECODERS = {Function: _function, Block: _block, Call: _call, Arg: _arg}


def encode_tu(tu: TUFacts) -> list:
    return encode(tu)


def decode_tu(data) -> TUFacts:
    return decode(TUFacts, data)
