"""Encode TUFacts as nested lists of plain values and back.

Positional (each record is the list of its field values in declaration order), so a cache entry
is small and loads with one json.loads plus a walk; events carry a one-letter tag because a
block's event list mixes kinds. FORMAT changes whenever the IR's shape does: a cache entry
written with another FORMAT is ignored.
"""
from __future__ import annotations

from dataclasses import fields
from sys import intern

from .ir import (Access, Arg, Assign, Block, Call, Diagnostic, Edge, FieldStore, Function,
                 Return, TUFacts)

FORMAT = 11

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
              "includes": ("tuple", None), "diagnostics": ("list", Diagnostic)},
}
_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls))
                for cls in (Access, Arg, Assign, Block, Call, Diagnostic, Edge, FieldStore,
                            Function, Return, TUFacts)}


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
# spends most of its time here (field order as declared in ir.py). Their strings are interned:
# names, fields, spellings and paths repeat across a program's TUs (every TU lists the same
# headers and declarations), and one copy of each took a whole program's IR from 1.35 GB to
# 0.4 GB (QEMU 7.2).
def _strs(items) -> tuple:
    return tuple(map(intern, items))


def _arg(d):
    return Arg(intern(d[0]), intern(d[1]), _strs(d[2]), intern(d[3]), _strs(d[4]))


def _call(d):
    return Call(intern(d[0]), d[1], d[2], intern(d[3]), intern(d[4]),
                tuple(_arg(a) for a in d[5]), intern(d[6]), intern(d[7]), d[8])


def _event(item):
    tag = item[0]
    if tag == "C":
        return _call(item[1:])
    if tag == "A":
        return Access(intern(item[1]), intern(item[2]), intern(item[3]), item[4], item[5],
                      intern(item[6]))
    if tag == "S":
        return Assign(_strs(item[1]), item[2], item[3], intern(item[4]), *item[5:])
    return Return(item[1], item[2], item[3], intern(item[4]))


def _block(d):
    return Block([_event(e) for e in d[0]],
                 [Edge(e[0], intern(e[1]), intern(e[2]), e[3], _strs(e[4]), intern(e[5]))
                  for e in d[1]])


def _function(d):
    return Function(intern(d[0]), intern(d[1]), intern(d[2]), d[3], d[4], d[5], d[6],
                    _strs(d[7]), _strs(d[8]), _strs(d[9]), [_block(b) for b in d[10]], d[11])


def _field_store(d):
    return FieldStore(intern(d[0]), intern(d[1]), intern(d[2]), d[3], intern(d[4]))


def _attrs(table: dict) -> dict:
    return {intern(k): _strs(v) for k, v in table.items()}


def _tu(d):
    return TUFacts(d[0], [_function(f) for f in d[1]], [_field_store(s) for s in d[2]],
                   _attrs(d[3]), _attrs(d[4]), _strs(d[5]), _strs(d[6]),
                   [decode(Diagnostic, x) for x in d[7]], d[8], d[9])


_DECODERS = {Function: _function, Block: _block, Call: _call, Arg: _arg, FieldStore: _field_store,
             TUFacts: _tu}


def encode_tu(tu: TUFacts) -> list:
    return encode(tu)


def decode_tu(data) -> TUFacts:
    return decode(TUFacts, data)
