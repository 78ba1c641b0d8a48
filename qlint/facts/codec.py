"""Encode TUFacts as nested lists of plain values and back.

Positional (each record is the list of its field values in declaration order, trailing values
that equal their defaults left out), so a cache entry is small and loads with one json.loads
plus a walk; events carry a one-letter tag because a block's event list mixes kinds; expression
trees are nested lists. FORMAT changes whenever the IR's shape does: a cache entry written with
another FORMAT is ignored.
"""
from __future__ import annotations

from dataclasses import MISSING, fields
from sys import intern

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
_NOT_STORED = {"prefix_declared"}     # TUFacts: the cache keeps them with the prefix
_FIELDS = {cls: tuple(f for f in fields(cls) if f.name not in _NOT_STORED) for cls in _RECORDS}
_FIELD_NAMES = {cls: tuple(f.name for f in _FIELDS[cls]) for cls in _RECORDS}


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
                        for f in _FIELDS[cls]) for cls in _RECORDS}


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
    """An expression tree from its encoded form (nested lists) or None; its strings (types,
    operators, names) interned, as the records' are: they repeat in every tree."""
    if value is None:
        return None
    out = []      # a loop, not a generator: a warm run decodes millions of trees
    for v in value:
        kind = type(v)
        out.append(tree(v) if kind is list else intern(v) if kind is str else v)
    return tuple(out)


# Positional decoders for the records a cache holds by the hundred thousand: a warm run
# spends most of its time here (field order as declared in ir.py; trailing defaults absent).
# Their strings are interned: names, fields, spellings and paths repeat across a program's TUs
# (every TU lists the same headers and declarations), and one copy of each took a whole
# program's IR from 1.35 GB to 0.4 GB (QEMU 7.2).
def _strs(items) -> tuple:
    return tuple(map(intern, items))


_NUMBERS: dict[int, int] = {}


def _num(value: int) -> int:
    """One object for each line or column number: they repeat too, and Python shares only
    the ints below 257."""
    return _NUMBERS.setdefault(value, value)


def _arg(d):
    n = len(d)
    return Arg(intern(d[0]), intern(d[1]) if n > 1 else "", _strs(d[2]) if n > 2 else (),
               intern(d[3]) if n > 3 else "", _strs(d[4]) if n > 4 else (),
               tree(d[5]) if n > 5 else None)


def _call(d):
    n = len(d)
    return Call(intern(d[0]), _num(d[1]), _num(d[2]), intern(d[3]) if n > 3 else "",
                intern(d[4]) if n > 4 else "", tuple(_arg(a) for a in d[5]) if n > 5 else (),
                intern(d[6]) if n > 6 else "", intern(d[7]) if n > 7 else "",
                d[8] if n > 8 else False)


def _access(d):
    n = len(d)
    return Access(intern(d[0]), intern(d[1]), intern(d[2]), _num(d[3]), _num(d[4]),
                  intern(d[5]) if n > 5 else "", tree(d[6]) if n > 6 else None,
                  d[7] if n > 7 else "", tree(d[8]) if n > 8 else None)


def _event(item):
    tag = item[0]
    if tag == "C":
        return _call(item[1:])
    if tag == "A":
        return _access(item[1:])
    if tag == "S":
        n = len(item)
        return Assign(_strs(item[1]), _num(item[2]), item[3] if n > 3 else None,
                      intern(item[4]) if n > 4 else "", item[5] if n > 5 else False,
                      intern(item[6]) if n > 6 else "", tree(item[7]) if n > 7 else None,
                      tree(item[8]) if n > 8 else None)
    n = len(item)
    return Return(_num(item[1]), _num(item[2]), item[3] if n > 3 else None,
                  intern(item[4]) if n > 4 else "", tree(item[5]) if n > 5 else None)


def _edge(e):
    n = len(e)
    if n == 1:
        return Edge(e[0])
    return Edge(e[0], intern(e[1]), intern(e[2]) if n > 2 else "", _num(e[3]) if n > 3 else 0,
                _strs(e[4]) if n > 4 else (), intern(e[5]) if n > 5 else "",
                e[6] if n > 6 else None)


def _block(d):
    return Block([_event(e) for e in d[0]] if d else [],
                 [_edge(e) for e in d[1]] if len(d) > 1 else [],
                 tree(d[2]) if len(d) > 2 else None)


def _function(d):
    n = len(d)
    return Function(intern(d[0]), intern(d[1]), intern(d[2]), d[3], d[4], d[5], d[6],
                    _strs(d[7]) if n > 7 else (), _strs(d[8]) if n > 8 else (),
                    _strs(d[9]) if n > 9 else (), [_block(b) for b in d[10]] if n > 10 else [],
                    d[11] if n > 11 else False)


def _field_store(d):
    return FieldStore(intern(d[0]), intern(d[1]), intern(d[2]), d[3],
                      intern(d[4]) if len(d) > 4 else "")


def _attrs(table: dict) -> dict:
    return {intern(k): _strs(v) for k, v in table.items()}


def _tu(d, seen: set | None = None):
    n = len(d)
    functions = [] if n < 2 else [_function(f) for f in d[1]] if seen is None else \
        [_function(f) for f in d[1] if not _seen_static(f, seen)]
    return TUFacts(d[0], functions,
                   [_field_store(s) for s in d[2]] if n > 2 else [],
                   _attrs(d[3]) if n > 3 else {}, _attrs(d[4]) if n > 4 else {},
                   _strs(d[5]) if n > 5 else (), _strs(d[6]) if n > 6 else (),
                   [decode(Diagnostic, x) for x in d[7]] if n > 7 else [],
                   d[8] if n > 8 else False, d[9] if n > 9 else "",
                   [_comment(c) for c in d[10]] if n > 10 else [])


def _comment(d):
    return Comment(intern(d[0]), intern(d[1]), d[2], d[3])


_DECODERS = {Function: _function, Block: _block, Call: _call, Arg: _arg, FieldStore: _field_store,
             TUFacts: _tu}


def _seen_static(f: list, seen: set) -> bool:
    """Whether an encoded function is a static one whose key is in `seen` (adding it if not):
    its key names its file, so it is the same function (a header's static inline one)."""
    if len(f) < 7 or not f[6]:
        return False
    if f[0] in seen:
        return True
    seen.add(f[0])
    return False


def encode_tu(tu: TUFacts) -> list:
    return encode(tu)


def decode_tu(data, seen: set | None = None) -> TUFacts:
    """A TU's facts. With `seen`, the keys of the static functions of the TUs decoded before
    it: those it defines again are left out, undecoded. Program keeps the first of such
    copies, in path order, and drops the rest: decoding TUs in path order with one `seen`
    keeps the same functions without holding every TU's copy at once (two thirds of a whole
    10.0 program's functions are such copies)."""
    return decode(TUFacts, data) if seen is None else _tu(data, seen)
