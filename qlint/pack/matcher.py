"""Function matchers, the names in acquire/release/begin/end/api lists:
  "aio_context_acquire"                                   a call of that function
  "aio_disable_external(iohandler_get_aio_context())"     ... with those argument spellings
  "aio_bh_schedule_oneshot(qemu_get_aio_context(), *)"    '*' matches any argument
  "macro:WITH_QEMU_LOCK_GUARD"                            a call written by that macro
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..facts.ir import Call

_MATCHER_RE = re.compile(r"^(macro:)?([A-Za-z_]\w*)\s*(?:\((.*)\))?$", re.S)


def squash(text: str) -> str:
    """`text` without whitespace: argument spellings and conditions compare so."""
    return "".join(text.split())


EQUAL_TO = "*=="      # an [[assume]] `* == X` (or `X == *`) is keyed "*==X"


def assumption_key(condition: str) -> str:
    """How an [[assume]]d condition is looked up: squashed, and `X == *` as `* == X`. A side
    that is `*` alone (any variable or field) stands only in an equality (ValueError)."""
    text = squash(condition)
    wild = _WILDCARD.fullmatch(text)
    if wild is None:
        return text
    op, other = wild.group(1) or wild.group(4), wild.group(2) or wild.group(3)
    if op != "==" or other in ("", "*"):
        raise ValueError(f"{condition!r}: '*' stands for one side of '==' only (\"* == X\")")
    return EQUAL_TO + other


_WILDCARD = re.compile(r"\*(==|!=)(.*)|(.*)(==|!=)\*")


def bare(text: str) -> str:
    """Without the parentheses a macro puts around its argument: `(&error_fatal)`."""
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1]
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if depth < 0:
            return False
    return depth == 0


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    macro: bool = False
    args: tuple | None = None      # squashed argument patterns, None for '*'

    def matches(self, call: Call) -> bool:
        if self.macro:
            if call.macro != self.name:
                return False
        elif call.name != self.name:
            return False
        if self.args is None:
            return True
        for index, pattern in enumerate(self.args):
            if pattern is None:
                continue
            if index >= len(call.args) or bare(squash(call.args[index].text)) != pattern:
                return False
        return True

    def __str__(self) -> str:
        prefix = "macro:" if self.macro else ""
        if self.args is None:
            return prefix + self.name
        return f"{prefix}{self.name}({', '.join(a or '*' for a in self.args)})"


def parse_matcher(spec: str) -> Matcher:
    m = _MATCHER_RE.match(spec.strip()) if isinstance(spec, str) else None
    if not m:
        raise ValueError(f"not a function matcher: {spec!r}")
    args = None
    if m.group(3) is not None:
        args = tuple(None if a == "*" else a
                     for a in (bare(squash(x)) for x in _split_args(m.group(3))))
    return Matcher(name=m.group(2), macro=bool(m.group(1)), args=args)


def _split_args(text: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur.append(ch)
    if "".join(cur).strip() or out:
        out.append("".join(cur))
    return out
