"""C expressions as the replay evaluates them: branch conditions (as the IR prints them), the
right-hand sides of writes and the values of `return` (read from the current source).

The parser covers C's expression grammar (precedence, casts, calls, members, subscripts,
assignments, `?:`); what it cannot read becomes an unknown operand. Evaluation never has side
effects: a call's value and a field's value come from what the interpreter recorded when it
executed the call or the access (Env), so a condition sees exactly what its block read.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .values import UNKNOWN, truth

_TOKEN_RE = re.compile(r"""
    (?P<space>\s+|/\*.*?\*/|//[^\n]*)
  | (?P<num>0[xX][0-9a-fA-F]+[uUlL]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?[uUlLfF]*)
  | (?P<char>'(?:[^'\\\n]|\\.)*')
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<id>[A-Za-z_]\w*)
  | (?P<op>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|…
           |[-+*/%<>=!~&|^?:,.()\[\]{};\#])
""", re.S | re.X)

_BINARY = [("||",), ("&&",), ("|",), ("^",), ("&",), ("==", "!="), ("<", ">", "<=", ">="),
           ("<<", ">>"), ("+", "-"), ("*", "/", "%")]
_PRECEDENCE = {op: level for level, ops in enumerate(_BINARY) for op in ops}
_ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="}
_TYPE_WORDS = {"struct", "union", "enum", "const", "volatile", "unsigned", "signed", "int", "char",
               "short", "long", "void", "bool", "_Bool", "float", "double", "size_t", "ssize_t"}
_OPERAND_START = {"id", "num", "char", "str"}
_CLOSE = {")", "]", "}", ";", ",", ":"}
_OPEN = {"(", "[", "{"}
_CLOSING = {")", "]", "}"}


def tokenize(text: str, limit: int = 0) -> list[tuple[str, str]]:
    """(kind, text) tokens; stops at the first character it cannot read, or after `limit`."""
    out, pos = [], 0
    while pos < len(text) and (not limit or len(out) < limit):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            break
        pos = m.end()
        kind = m.lastgroup
        if kind != "space":
            out.append((kind, m.group()))
    return out


def normalize(text: str) -> str:
    """An expression's spelling without whitespace or comments: the key under which the
    interpreter records what an access read."""
    return "".join(t for _k, t in tokenize(text))


class _Parser:
    def __init__(self, tokens):
        self.toks = tokens
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        i = self.pos + offset
        return self.toks[i] if i < len(self.toks) else ("end", "")

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        if self.peek()[1] != text:
            raise SyntaxError(f"expected {text!r}")
        self.pos += 1

    def node(self, kind, start, *rest):
        return (kind, "".join(t for _k, t in self.toks[start:self.pos]), *rest)

    # ---- grammar ------------------------------------------------------------------------

    def expression(self):
        start = self.pos
        node = self.assignment()
        while self.peek()[1] == ",":
            self.take()
            right = self.assignment()
            node = self.node("comma", start, node, right)
        return node

    def assignment(self):
        start = self.pos
        left = self.conditional()
        if self.peek()[1] in _ASSIGN:
            op = self.take()[1]
            right = self.assignment()
            return self.node("assign", start, op, left, right)
        return left

    def conditional(self):
        start = self.pos
        cond = self.binary(0)
        if self.peek()[1] == "?":
            self.take()
            yes = self.expression()
            self.expect(":")
            no = self.conditional()
            return self.node("cond", start, cond, yes, no)
        return cond

    def binary(self, level: int):
        if level == len(_BINARY):
            return self.unary()
        start = self.pos
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and _PRECEDENCE.get(self.peek()[1]) == level:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = self.node("bin", start, op, left, right)
        return left

    def unary(self):
        start = self.pos
        kind, text = self.peek()
        if text in ("!", "~", "-", "+", "*", "&", "++", "--"):
            self.take()
            operand = self.unary()
            return self.node("un", start, text, operand)
        if text == "sizeof":
            self.take()
            if self.peek()[1] == "(":
                self.skip_group()
            else:
                self.unary()
            return self.node("unk", start)
        if text == "(" and self.is_cast():
            self.skip_group()
            if self.peek()[1] == "{":                  # compound literal
                self.skip_group()
                return self.node("unk", start)
            operand = self.unary()
            return self.node("cast", start, operand)
        return self.postfix()

    def is_cast(self) -> bool:
        depth, i, words = 0, self.pos, []
        while i < len(self.toks):
            kind, text = self.toks[i]
            if text == "(":
                depth += 1
            elif text == ")":
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1:
                words.append((kind, text))
            i += 1
        else:
            return False
        if not words or any(k != "id" and t != "*" for k, t in words):
            return False
        after = self.toks[i + 1] if i + 1 < len(self.toks) else ("end", "")
        if any(t == "*" or t in _TYPE_WORDS or t.endswith("_t") for _k, t in words):
            return True
        # `(name) operand` is a cast: an expression in parentheses cannot be followed by one.
        return len(words) == 1 and (after[0] in _OPERAND_START or after[1] in ("(", "!", "~"))

    def skip_group(self) -> None:
        close = {"(": ")", "[": "]", "{": "}"}[self.take()[1]]
        depth = 1
        while depth and self.peek()[0] != "end":
            text = self.take()[1]
            if text in _OPEN:
                depth += 1
            elif text in _CLOSING:
                depth -= 1
        if depth:
            raise SyntaxError(f"unbalanced, expected {close!r}")

    def postfix(self):
        start = self.pos
        node = self.primary()
        while True:
            text = self.peek()[1]
            if text == "(":
                self.take()
                args = []
                while self.peek()[1] != ")":
                    args.append(self.type_name() if self.peek()[1] in _TYPE_WORDS
                                else self.assignment())
                    if self.peek()[1] == ",":
                        self.take()
                    elif self.peek()[1] != ")":
                        raise SyntaxError("bad argument list")
                self.take()
                name = node[2] if node[0] == "id" else ""
                node = self.node("call", start, name, tuple(args))
            elif text == "[":
                self.take()
                index = self.expression()
                self.expect("]")
                node = self.node("idx", start, node, index)
            elif text in (".", "->"):
                self.take()
                kind, member = self.take()
                if kind != "id":
                    raise SyntaxError("member name expected")
                node = self.node("mem", start, node, member, text == "->")
            elif text in ("++", "--"):
                self.take()
                node = self.node("post", start, text, node)
            else:
                return node

    def type_name(self):
        """A type as a macro argument (`container_of(p, struct qemu_laiocb, iocb)`)."""
        start, last = self.pos, ""
        while self.peek()[1] not in (",", ")", "") and self.peek()[1] not in _OPEN:
            kind, text = self.take()
            if kind == "id":
                last = text
        return self.node("type", start, last)

    def primary(self):
        start = self.pos
        kind, text = self.take()
        if kind == "num":
            return self.node("num", start, _int(text))
        if kind == "char":
            return self.node("num", start, _char(text))
        if kind == "id":
            return self.node("id", start, text)
        if kind == "str" or text == "…":
            return self.node("unk", start)
        if text == "(":
            if self.peek()[1] == "{":                  # statement expression ({ ... })
                self.pos -= 1
                self.skip_group()
                return self.node("unk", start)
            inner = self.expression()
            self.expect(")")
            return inner
        if text == "{":
            self.pos -= 1
            self.skip_group()
            return self.node("unk", start)
        raise SyntaxError(f"unexpected {text!r}")


def _int(text: str):
    digits = text.rstrip("uUlLfF")
    try:
        return int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits, 8) \
            if len(digits) > 1 and digits[0] == "0" and digits.isdigit() else int(digits)
    except ValueError:
        return UNKNOWN


def _char(text: str):
    body = text[1:-1]
    escapes = {"\\n": 10, "\\t": 9, "\\0": 0, "\\\\": 92, "\\'": 39}
    if body in escapes:
        return escapes[body]
    return ord(body) if len(body) == 1 else UNKNOWN


@lru_cache(maxsize=1 << 14)
def parse(text: str):
    """The expression tree of `text`, or None if it is not an expression qlint can read."""
    tokens = tokenize(text)
    parser = _Parser(tokens)
    try:
        node = parser.expression()
    except (SyntaxError, RecursionError, KeyError):
        return None
    return node if parser.pos == len(tokens) else None


def parse_prefix(tokens):
    """The expression at the start of `tokens` (up to `;`, an unbalanced bracket, or a comma
    when the tokens continue an argument list), or None."""
    parser = _Parser(tokens)
    try:
        node = parser.expression()
    except (SyntaxError, RecursionError, KeyError):
        return None
    nxt = parser.peek()
    return node if nxt[0] == "end" or nxt[1] in _CLOSE else None


# ---- evaluation ---------------------------------------------------------------------------

KINDS = frozenset({"num", "unk", "type", "id", "mem", "idx", "cast", "comma", "post", "assign",
                   "cond", "un", "call", "bin"})


def children(node):
    for part in node[2:]:
        if isinstance(part, tuple) and part:
            if isinstance(part[0], str) and part[0] in KINDS:
                yield part
            else:
                yield from (p for p in part if isinstance(p, tuple))


def count_calls(node, counts=None) -> dict:
    """How often each function is called in an expression (to pair calls with results)."""
    counts = {} if counts is None else counts
    if node[0] == "call" and node[2]:
        counts[node[2]] = counts.get(node[2], 0) + 1
    for child in children(node):
        count_calls(child, counts)
    return counts


class Evaluator:
    """Evaluates a parsed expression against an Env (the interpreter's frame):

        env.name(name)             a local, parameter, constant or function, or UNKNOWN
        env.read(node)             an lvalue's value (member, subscript, dereference)
        env.address(node)          &lvalue
        env.call(name, back)       the result of the back-th most recent call of `name`
        env.assigned(node)         what the interpreter stored at an assignment's lvalue, or None
        env.container(ptr, record) container_of(): the object that holds *ptr
    """

    def __init__(self, env):
        self.env = env
        self.pending: dict[str, int] = {}

    def evaluate(self, node):
        self.pending = count_calls(node)
        return self.value(node)

    def value(self, node):
        kind = node[0]
        method = getattr(self, "_" + kind, None)
        return method(node) if method else UNKNOWN

    def _num(self, node):
        return node[2]

    def _unk(self, node):
        return UNKNOWN

    def _id(self, node):
        return self.env.name(node[2])

    def _mem(self, node):
        return self.env.read(node)

    def _idx(self, node):
        return self.env.read(node)

    def _cast(self, node):
        return self.value(node[2])

    def _comma(self, node):
        self.value(node[2])
        return self.value(node[3])

    def _post(self, node):
        return self.value(node[3])

    def _assign(self, node):
        stored = self.env.assigned(node[3])
        return stored if stored is not None else self.value(node[4])

    def _cond(self, node):
        test = truth(self.value(node[2]))
        if test is UNKNOWN:
            yes, no = self.value(node[3]), self.value(node[4])
            return yes if yes == no else UNKNOWN
        return self.value(node[3] if test else node[4])

    def _un(self, node):
        op, operand = node[2], node[3]
        if op == "&":
            return self.env.address(operand)
        if op == "*":
            return self.env.read(node)
        v = self.value(operand)
        if op == "!":
            t = truth(v)
            return UNKNOWN if t is UNKNOWN else int(not t)
        if not isinstance(v, int):
            return UNKNOWN
        return {"-": -v, "+": v, "~": ~v}.get(op, v)

    def _call(self, node):
        name, args = node[2], node[3]
        if name == "container_of" and len(args) == 3:
            record = args[1][2] if args[1][0] in ("type", "id") else ""
            return self.env.container(self.value(args[0]), record)
        if name in ("likely", "unlikely", "__builtin_expect") and args:
            return self.value(args[0])
        for a in args:                                 # results of calls inside the arguments
            self.value(a)
        back = self.pending.get(name, 1)
        self.pending[name] = back - 1
        return self.env.call(name, max(back, 1))

    def _bin(self, node):
        op = node[2]
        left = self.value(node[3])
        if op in ("&&", "||"):
            lt = truth(left)
            if lt is not UNKNOWN and lt == (op == "||"):
                self.value(node[4])
                return int(lt)
            rt = truth(self.value(node[4]))
            if rt is UNKNOWN:
                return UNKNOWN if lt is UNKNOWN or lt == (op == "&&") else int(lt)
            if lt is UNKNOWN:
                return int(rt) if rt == (op == "||") else UNKNOWN
            return int(rt)
        return binary(op, left, self.value(node[4]))


def binary(op: str, a, b):
    if op in ("==", "!="):
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        return int((a == b) == (op == "=="))
    if a is UNKNOWN or b is UNKNOWN:
        return UNKNOWN
    if isinstance(a, tuple) and a[0] == "ring" and isinstance(b, int) and op in ("+", "-"):
        return ("ring", a[1] + b if op == "+" else a[1] - b)
    if not (isinstance(a, int) and isinstance(b, int)):
        return UNKNOWN
    try:
        return _ARITH[op](a, b)
    except (ZeroDivisionError, KeyError, ValueError):
        return UNKNOWN


def _div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


_ARITH = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "/": _div, "%": lambda a, b: a - _div(a, b) * b,
    "<<": lambda a, b: a << b, ">>": lambda a, b: a >> b,
    "&": lambda a, b: a & b, "|": lambda a, b: a | b, "^": lambda a, b: a ^ b,
    "<": lambda a, b: int(a < b), ">": lambda a, b: int(a > b),
    "<=": lambda a, b: int(a <= b), ">=": lambda a, b: int(a >= b),
}


def member_base(node):
    """(base expression, member name, through a pointer?) of a member node."""
    return node[2], node[3], node[4]
