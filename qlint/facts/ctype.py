"""C integer types as the IR's expression trees name them ("u32", "i64", "b", "p:Record" ...; see
ir.py), and the conversions C applies to them: integer promotion, the usual arithmetic
conversions, and the wrap-around of a value stored into a type. The front end types the
operators of a tree with them; the runtime checker evaluates trees with them."""
from __future__ import annotations

INT = "i32"
_RANK = {8: 1, 16: 2, 32: 3, 64: 4}


def is_integer(t: str) -> bool:
    return t == "b" or (len(t) > 1 and t[0] in "iu" and t[1:].isdigit())


def is_pointer(t: str) -> bool:
    return t[:1] == "p"


def bits(t: str) -> int:
    """Width of an integer type in bits (1 for _Bool), 0 for anything else."""
    if t == "b":
        return 1
    return int(t[1:]) if is_integer(t) else 0


def is_unsigned(t: str) -> bool:
    return t == "b" or t[:1] == "u"


def record(t: str) -> str:
    """The record a "p:R" or "s:R" type names, else ""."""
    return t[2:] if t[1:2] == ":" else ""


def pointee(t: str) -> str:
    """The type `*p` has for p of type t (records only: "p:R" -> "s:R")."""
    r = record(t)
    return "s:" + r if is_pointer(t) and r else ""


def address_of(t: str) -> str:
    r = record(t)
    return "p:" + r if t[:1] == "s" and r else "p"


def promote(t: str) -> str:
    """Integer promotion: types narrower than int become int."""
    return INT if is_integer(t) and bits(t) < 32 else t


def common(a: str, b: str) -> str:
    """The usual arithmetic conversions of two integer operand types (pointer arithmetic keeps
    the pointer's type; anything else is unknown, "")."""
    if is_pointer(a) and is_integer(b):
        return a
    if is_pointer(b) and is_integer(a):
        return b
    if not (is_integer(a) and is_integer(b)):
        return ""
    a, b = promote(a), promote(b)
    if a == b:
        return a
    ra, rb = _RANK[bits(a)], _RANK[bits(b)]
    if is_unsigned(a) == is_unsigned(b):
        return a if ra >= rb else b
    unsigned, signed = (a, b) if is_unsigned(a) else (b, a)
    if _RANK[bits(unsigned)] >= _RANK[bits(signed)]:
        return unsigned
    return signed                     # a wider signed type holds every value of the unsigned


def wrap(value: int, t: str) -> int:
    """A value converted to integer type t (modulo 2^bits; _Bool is 0 or 1)."""
    if t == "b":
        return int(value != 0)
    n = bits(t)
    if not n:
        return value
    value &= (1 << n) - 1
    if not is_unsigned(t) and value >> (n - 1):
        value -= 1 << n
    return value


def fits(value: int, t: str) -> bool:
    """Is `value` representable in integer type t without wrapping?"""
    return wrap(value, t) == value
