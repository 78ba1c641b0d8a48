"""What the replay reads from the current source text, by the IR's locations: the value a
write stores, the value a `return` returns, integer macros, and the declared types of struct
fields (an unsigned counter wraps). The IR records where these are; their expressions are read
here so that the front end's facts stay what the static rules need."""
from __future__ import annotations

import os
import re
from functools import lru_cache

from .expr import parse_prefix, tokenize

_LOOKAHEAD = 4000          # characters of source an expression may span
_DEFINE_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+\(?[ \t]*"
                        r"(-?[ \t]*(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*[ \t]*\)?[ \t]*(?:/[*/].*)?$",
                        re.M)
_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_STRUCT_RE = re.compile(r"\b(?:struct|union)\s+(\w+)?\s*\{")
_INT_BITS = {"char": 8, "short": 16, "int": 32, "long": 64, "size_t": 64, "bool": 8, "_Bool": 8}


def _version(path: str) -> tuple:
    """What identifies the current contents of a file: a changed file is read again."""
    try:
        st = os.stat(path)
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def _text(path: str) -> tuple[str, tuple]:
    """The file as text (bytes decoded 1:1, so columns are offsets) and its line offsets."""
    return _read(path, *_version(path))


@lru_cache(maxsize=256)
def _read(path: str, _mtime: int, _size: int) -> tuple[str, tuple]:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("latin-1")
    except OSError:
        return "", ()
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    return text, tuple(starts)


def _offset(path: str, line: int, col: int = 1) -> tuple[str, int]:
    text, starts = _text(path)
    if not 1 <= line <= len(starts):
        return text, -1
    return text, starts[line - 1] + col - 1


def _expression_at(text: str, offset: int):
    return parse_prefix(tokenize(text[offset:offset + _LOOKAHEAD], limit=200))


def write_at(path: str, line: int, col: int):
    """(operator, expression) of the write whose member name starts at line:col
    (`s->event_idx = 0` -> ("=", 0); `s->io_q.in_flight--` -> ("--", None)), or None."""
    return _write_at(path, _version(path), line, col)


@lru_cache(maxsize=1 << 14)
def _write_at(path: str, _version, line: int, col: int):
    text, offset = _offset(path, line, col)
    if offset < 0:
        return None
    m = re.compile(r"[A-Za-z_]\w*\s*(\+\+|--|<<=|>>=|[-+*/%&|^]?=(?!=))").match(text, offset)
    if not m:
        return None
    op = m.group(1)
    if op in ("++", "--"):
        return op, None
    expr = _expression_at(text, m.end())
    return (op, expr) if expr is not None else None


def assigned_at(path: str, line: int, name: str):
    """The expression assigned to local `name` by the statement on `line` (`s = opaque`,
    `struct io_event *ev = &events[s->event_idx]`), or None."""
    return _assigned_at(path, _version(path), line, name)


@lru_cache(maxsize=1 << 14)
def _assigned_at(path: str, _version, line: int, name: str):
    text, offset = _offset(path, line)
    if offset < 0:
        return None
    end = text.find("\n", offset)
    pattern = re.compile(rf"\b{re.escape(name)}\s*=(?!=)")
    m = pattern.search(text, offset, end if end >= 0 else len(text))
    return _expression_at(text, m.end()) if m else None


def returned_at(path: str, line: int, col: int):
    """The expression of the `return` statement at line:col, or None (`return;`)."""
    return _returned_at(path, _version(path), line, col)


@lru_cache(maxsize=1 << 14)
def _returned_at(path: str, _version, line: int, col: int):
    text, offset = _offset(path, line, col)
    if offset < 0 or not text.startswith("return", offset):
        return None
    return _expression_at(text, offset + len("return"))


def defines(path: str) -> dict[str, int]:
    """Integer object-like macros of a file (`#define MAX_EVENTS 1024`)."""
    return _defines(_text(path)[0])


@lru_cache(maxsize=256)
def _defines(text: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2).replace(" ", "").replace("\t", ""), 0)
            for m in _DEFINE_RE.finditer(text)}


def unsigned_fields(path: str) -> dict[str, int]:
    """"Record.field" -> width in bits of the unsigned integer fields of the structs a file
    defines (`typedef struct { unsigned int in_flight; } LaioQueue;`)."""
    return _unsigned_fields(_text(path)[0])


@lru_cache(maxsize=256)
def _unsigned_fields(raw: str) -> dict[str, int]:
    text = _COMMENT_RE.sub(" ", raw)
    out: dict[str, int] = {}
    for m in _STRUCT_RE.finditer(text):
        body, end = _braced(text, m.end() - 1)
        if body is None:
            continue
        names = [m.group(1)] if m.group(1) else []
        typedef = re.match(r"\s*(\w+)\s*;", text[end:])
        if typedef and text[max(0, m.start() - 8):m.start()].strip().endswith("typedef"):
            names.append(typedef.group(1))
        for field, bits in _unsigned_members(body):
            for record in names:
                out[f"{record}.{field}"] = bits
    return out


def _braced(text: str, start: int):
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None, start


def _unsigned_members(body: str):
    depth, decl = 0, []
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == ";" and depth == 0:
            yield from _declared("".join(decl))
            decl = []
        elif depth == 0 and ch != "}":
            decl.append(ch)


def _declared(decl: str):
    """(name, bits) of the unsigned integers a member declaration declares
    (`uint64_t bytes, more;`, not pointers, not function pointers)."""
    if "(" in decl:
        return
    first, *others = decl.split(":")[0].split(",")
    words = re.findall(r"\*|\w+", first.split("[")[0])
    if len(words) < 2 or "*" in words:
        return
    bits = _unsigned_bits(words[:-1])
    if not bits:
        return
    yield words[-1], bits
    for other in others:
        names = re.findall(r"\*|\w+", other.split("[")[0])
        if names and "*" not in names:
            yield names[-1], bits


def _unsigned_bits(type_words: list[str]) -> int:
    for word in type_words:
        m = re.fullmatch(r"uint(8|16|32|64)_t", word)
        if m:
            return int(m.group(1))
    if "size_t" in type_words:
        return 64
    if "unsigned" not in type_words:
        return 0
    sized = [_INT_BITS[w] for w in type_words if w in _INT_BITS]
    return max(sized) if sized else 32
