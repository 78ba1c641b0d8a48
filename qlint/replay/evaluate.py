"""Evaluating the IR's expression trees (qlint/facts/ir.py) in the replay.

The trees are what libclang parsed: macros expanded, constants folded, every operand typed
through its typedefs. Evaluation follows C on those types: arithmetic wraps to the operator's
type, comparisons convert their operands as C does (qlint/facts/ctype.py), `_Bool` is 0 or 1.
It never has side effects: a call's value and a field's value are what the interpreter recorded
when it executed the call or the access (the Env), so a condition sees exactly what its block
read. A part the tree does not represent (`("?", T, what)`), or an operand the model does not
know, makes the value UNKNOWN; the first kind is reported to the Env, which counts it.
"""
from __future__ import annotations

from ..facts import ctype
from .values import UNKNOWN, truth

COMPARISONS = frozenset({"<", ">", "<=", ">=", "==", "!="})
ASSIGNMENTS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="})


class Evaluator:
    """Values of trees against an Env (the interpreter's view of a C frame):

        env.var(name)                 a local or parameter (UNKNOWN if it has none)
        env.global_value(name)        a variable with static storage
        env.read(tree)                an lvalue's value: a field, `*p`, `a[i]`
        env.address(tree)             &lvalue
        env.call(name, line, col)     the value the call event at line:col returned
        env.stored(tree)              what an assignment in an expression stored at `tree`
        env.unknown(what)             a part the tree does not represent was evaluated
    """

    def __init__(self, env):
        self.env = env
        self.wrapped = False          # an unsigned subtraction went below 0

    def value(self, tree):
        if tree is None:
            return UNKNOWN
        op = tree[0]
        method = _DISPATCH.get(op)
        if method is not None:
            return method(self, tree)
        if op in ASSIGNMENTS:
            return self.env.stored(tree[2])
        if len(tree) == 4:
            return self._binary(tree)
        return self._unary(tree)

    # ---- leaves -------------------------------------------------------------------------

    def _int(self, tree):
        return tree[2]

    def _var(self, tree):
        return _typed(self.env.var(tree[2]), tree[1])

    def _global(self, tree):
        return _typed(self.env.global_value(tree[2]), tree[1])

    def _func(self, tree):
        return "func", tree[2]

    def _field(self, tree):
        return _typed(self.env.read(tree), tree[1])

    def _call(self, tree):
        return _typed(self.env.call(tree[2], tree[3], tree[4]), tree[1])

    def _unknown(self, tree):
        self.env.unknown(tree[2], tree)
        return UNKNOWN

    def _stmt(self, tree):
        return self.value(tree[2])

    def _cast(self, tree):
        value = self.value(tree[2])
        t = tree[1]
        if isinstance(value, int) and ctype.is_integer(t):
            return ctype.wrap(value, t)
        record = ctype.record(t)
        if ctype.is_pointer(t) and record and isinstance(value, tuple):
            return container(value, record)
        return value

    # ---- operators ----------------------------------------------------------------------

    def _deref(self, tree):
        return self.env.read(tree)

    def _address(self, tree):
        return self.env.address(tree[2])

    def _not(self, tree):
        t = truth(self.value(tree[2]))
        return UNKNOWN if t is UNKNOWN else int(not t)

    def _logical(self, tree):
        op = tree[0]
        left = truth(self.value(tree[2]))
        if left is not UNKNOWN and left == (op == "||"):
            return int(left)
        right = truth(self.value(tree[3]))
        if right is UNKNOWN:
            return UNKNOWN if left is UNKNOWN or left == (op == "&&") else int(left)
        if left is UNKNOWN:
            return int(right) if right == (op == "||") else UNKNOWN
        return int(right)

    def _conditional(self, tree):
        test = truth(self.value(tree[2]))
        if test is UNKNOWN:
            yes, no = self.value(tree[3]), self.value(tree[4])
            return yes if yes == no else UNKNOWN
        return self.value(tree[3] if test else tree[4])

    def _comma(self, tree):
        return self.value(tree[3])

    def _incdec(self, tree):
        """`++x` is x's new value (the write already happened); `x++` its old one."""
        value = self.value(tree[2])
        op = tree[0]
        if op.startswith("post") and isinstance(value, int):
            return _typed(value - 1 if op == "post++" else value + 1, tree[1])
        return value

    def _unary(self, tree):
        op, t = tree[0], tree[1]
        value = self.value(tree[2])
        if not isinstance(value, int):
            return UNKNOWN
        result = {"-": -value, "+": value, "~": ~value}.get(op, UNKNOWN)
        return _typed(result, t)

    def _binary(self, tree):
        op, t, lhs, rhs = tree
        if op == "[]":
            return self.env.read(tree)
        a, b = self.value(lhs), self.value(rhs)
        if op in COMPARISONS:
            return compare(op, a, lhs[1], b, rhs[1])
        result = arithmetic(op, a, b, t)
        if op == "-" and ctype.is_unsigned(t) and isinstance(a, int) and isinstance(b, int) \
                and a - b < 0:
            self.wrapped = True
        return result


_DISPATCH = {
    "int": Evaluator._int, "var": Evaluator._var, "global": Evaluator._global,
    "func": Evaluator._func, "field": Evaluator._field, "call": Evaluator._call,
    "?": Evaluator._unknown, "stmt": Evaluator._stmt, "cast": Evaluator._cast,
    "*": Evaluator._deref, "&": Evaluator._address, "!": Evaluator._not,
    "&&": Evaluator._logical, "||": Evaluator._logical, "?:": Evaluator._conditional,
    ",": Evaluator._comma, "++": Evaluator._incdec, "--": Evaluator._incdec,
    "post++": Evaluator._incdec, "post--": Evaluator._incdec,
}


def _typed(value, t: str):
    """A value as its type holds it (an int wraps; anything else as it is)."""
    if isinstance(value, int) and ctype.is_integer(t):
        return ctype.wrap(value, t)
    return value


def compare(op: str, a, at: str, b, bt: str):
    """C's comparison of two values of types at and bt (1, 0 or UNKNOWN)."""
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if isinstance(a, int) and isinstance(b, int):
        common = ctype.common(at, bt)
        if ctype.is_integer(common):
            a, b = ctype.wrap(a, common), ctype.wrap(b, common)
        return int(_ORDER[op](a, b))
    if op in ("==", "!="):
        same = a == b
        return int(same == (op == "=="))
    return UNKNOWN


def arithmetic(op: str, a, b, t: str):
    """`a op b` as C computes it in type t (UNKNOWN for what the model cannot)."""
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if isinstance(a, tuple) and isinstance(b, int) and op in ("+", "-"):
        return offset(a, b if op == "+" else -b)
    if not (isinstance(a, int) and isinstance(b, int)):
        return UNKNOWN
    try:
        result = _ARITH[op](a, b)
    except (ZeroDivisionError, KeyError, ValueError, OverflowError):
        return UNKNOWN
    return _typed(result, t)


def offset(pointer, delta: int):
    """A pointer moved by `delta` elements: an index into linux-aio's ring moves; any other
    pointer keeps standing for its object (container_of() subtracts a member's offset)."""
    if pointer[0] == "ring":
        return "ring", pointer[1] + delta
    if pointer[0] == "inner":
        return pointer
    return "inner", pointer


def container(pointer, record: str):
    """A pointer converted to `record *`: the object of that type it points into
    (container_of), or the pointer itself."""
    if pointer[0] == "inner":
        pointer = pointer[1]
    if pointer[0] == "addr":
        return "obj", pointer[1]
    return pointer


def _div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _shift(a, b, left: bool):
    if not 0 <= b < 64:
        raise ValueError(b)
    return a << b if left else a >> b


_ARITH = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": _div, "%": lambda a, b: a - _div(a, b) * b,
    "<<": lambda a, b: _shift(a, b, True), ">>": lambda a, b: _shift(a, b, False),
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
}
_ORDER = {"<": lambda a, b: a < b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b,
          ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
