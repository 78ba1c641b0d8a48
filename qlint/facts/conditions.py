"""What a branch decision establishes, from the condition's expression tree (ir.py), and whether
decisions contradict each other.

A decision (a block's condition taken true or false, a switch taken to a case) is a conjunction
of atoms `(key, relation, constant)`: `key` is the canonical spelling of an expression (calls
with their arguments, casts left out, operands of == and != ordered), `relation` one of
== != < <= > >=, `constant` an integer. `if (s->a && !s->b)` taken true is
{("s->a", "!=", 0), ("s->b", "==", 0), ("(!s->b && s->a)", "!=", 0)} (the parts, and the whole
for a later test of the same compound); taken false it is the single atom
("(!s->b && s->a)", "==", 0). A comparison with a constant is an atom on the other side
(`n >= 16` -> ("n", ">=", 16)), constants folded by the front end included (enum constants,
macros, sizeof). Decisions contradict when some key's atoms leave no integer value:
`s->needs_alignment` false, then `s->needs_alignment && bytes > 0` true.

Keys are C-like spellings, so an analysis that forgets what a write invalidates by the written
expression's text (`s->x`) or a local's name can keep doing so.
"""
from __future__ import annotations

from . import ctype
from .accessors import Getter, substitute
from .ir import Call, constant_of

Atom = tuple                      # (key, relation, constant)

_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}
_COMMUTATIVE = {"==", "!=", "+", "*", "&", "|", "^", "&&", "||"}


def decision(block, edge, abstract: bool = False, inline=None,
             calls=None) -> tuple[Atom, ...] | None:
    """The atoms taking `edge` out of `block` establishes, or None when it decides nothing the
    tree can say (an unconditional edge, `goto *`, a condition with an unknown part).
    `abstract` leaves call arguments out of the keys, for comparing the conditions of two
    functions that name the same object differently (`bdrv_get_aio_context(s->bs)` and
    `bdrv_get_aio_context(src)`). `inline` maps function keys to accessors (accessors.py): a
    getter's call is keyed as the expression it returns. `calls` (calls_of()) finds the calls
    a condition tests where the front end evaluated them in earlier blocks (`a || f() || b`
    tests the whole after branching on `a`); by default, the block's own."""
    tree = block.cond
    if tree is None or not edge.value:
        return None
    calls = calls if calls is not None else calls_of([block])
    if edge.value in ("true", "false"):
        parts = conjuncts(tree, edge.value == "true")
        if len(parts) > 1:
            # The compound as a whole too: `a && b` taken true, then taken false, contradict.
            parts.append(whole(tree, edge.value == "true"))
        atoms = []
        for part, positive in parts:
            atom = _atom(part, positive, calls, abstract, inline)
            if atom is not None and atom not in atoms:
                atoms.append(atom)
        return tuple(atoms) or None
    subject = key(tree, calls, abstract, inline)
    if subject is None:
        return None
    if edge.value.startswith("case "):
        return ((subject, "==", edge.case),) if edge.case is not None else None
    if edge.value == "default":
        others = [e.case for e in block.succs if e.value.startswith("case ")]
        if any(c is None for c in others):
            return None
        return tuple((subject, "!=", c) for c in sorted(set(others))) or None
    return None


def contradicts(known, atoms) -> bool:
    """Can `known` and `atoms` not all hold at once (some key left without a value)?"""
    by_key: dict[str, list] = {}
    for k, relation, constant in list(known) + list(atoms):
        by_key.setdefault(k, []).append((relation, constant))
    return any(not _satisfiable(constraints) for constraints in by_key.values())


def conjuncts(tree, positive: bool = True) -> list[tuple]:
    """(subexpression, holds?) pairs whose conjunction is `tree` taken `positive`: through
    `!`, `&&` taken true, `||` taken false, a comma's value and statement expressions."""
    op = tree[0]
    if op == "!":
        return conjuncts(tree[2], not positive)
    if (op == "&&" and positive) or (op == "||" and not positive):
        return conjuncts(tree[2], positive) + conjuncts(tree[3], positive)
    if op == "," or op == "stmt":
        return conjuncts(tree[-1], positive)
    if op == "cast" and _keeps_truth(tree):
        return conjuncts(tree[2], positive)
    return [(tree, positive)]


def whole(tree, positive: bool) -> tuple:
    """(tree, holds?) with the negations and truth-keeping conversions around it taken off."""
    while tree[0] == "!" or (tree[0] == "cast" and _keeps_truth(tree)):
        positive ^= tree[0] == "!"
        tree = tree[2]
    return tree, positive


def key(tree, calls=None, abstract: bool = False, inline=None) -> str | None:
    """The canonical spelling of an expression, or None if a part of it is unknown. A call of
    a getter in `inline` is spelled as what it returns (unless `abstract`)."""
    op = tree[0]
    if op in ("var", "global", "func"):
        return tree[2].split("@")[0]
    if op == "int":
        return str(tree[2])
    if op == "field":
        base = key(tree[2], calls, abstract, inline)
        name = tree[3].rsplit(".", 1)[-1]
        return None if base is None else f"{base}{'->' if tree[4] else '.'}{name}"
    if op == "call":
        return _call_key(tree, calls or {}, abstract, inline)
    if op in ("cast", "stmt"):
        return key(tree[-1], calls, abstract, inline)
    if op == "?":
        return None
    parts = [key(t, calls, abstract, inline) for t in tree[2:]]
    if None in parts:
        return None
    if len(parts) == 1:
        return f"{op}{parts[0]}" if not op.startswith("post") else f"{parts[0]}{op[4:]}"
    if op == "[]":
        return f"{parts[0]}[{parts[1]}]"
    if op in _MIRROR and op not in _COMMUTATIVE:
        if op in (">", ">="):                         # a > b is b < a
            op, parts = _MIRROR[op], parts[::-1]
    elif op in _COMMUTATIVE:
        parts = sorted(parts)
    return "(" + f" {op} ".join(parts) + ")"


def equality(k: str) -> tuple[str, str, str] | None:
    """(left, "==" or "!=", right) of a key that compares two expressions (`key()` spells
    `ctx != qemu_get_aio_context()` "(ctx != qemu_get_aio_context())"), else None."""
    if not (k.startswith("(") and k.endswith(")")):
        return None
    inner, depth, found = k[1:-1], 0, []
    for i, c in enumerate(inner):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif depth == 0 and inner.startswith((" == ", " != "), i):
            found.append(i)
    if len(found) != 1:
        return None
    i = found[0]
    return inner[:i], inner[i + 1:i + 3], inner[i + 4:]


# ---- internals ---------------------------------------------------------------------------

def calls_of(blocks) -> dict:
    """The Call events of these blocks by (name, line, column), as condition trees name them."""
    return {(e.name, e.line, e.col): e for block in blocks for e in block.events
            if isinstance(e, Call)}


def _call_key(tree, calls, abstract: bool, inline) -> str | None:
    name = tree[2]
    if abstract:
        return f"{name}(*)"
    event = calls.get((name, tree[3], tree[4]))
    if event is None:
        return None
    getter = inline.get(event.callee) if inline else None
    if type(getter) is Getter:
        value = substitute(getter.value, getter.params, event.args)
        if value is not None:
            return key(value, calls, abstract, inline)
    args = [key(a.expr, calls, False, inline) if a.expr is not None else None
            for a in event.args]
    if None in args:
        return None
    return f"{name}({', '.join(args)})"


def _keeps_truth(cast) -> bool:
    """A conversion that keeps the operand's truth: to _Bool, or to an integer at least as
    wide (or any conversion of a pointer)."""
    to, frm = cast[1], cast[2][1]
    if to == "b" or ctype.is_pointer(frm):
        return True
    return ctype.is_integer(to) and ctype.is_integer(frm) and ctype.bits(to) >= ctype.bits(frm)


def _atom(tree, positive: bool, calls, abstract: bool, inline) -> Atom | None:
    op = tree[0]
    if op in _MIRROR and len(tree) == 4:
        left, right = constant_of(tree[2]), constant_of(tree[3])
        if left is None and right is not None:
            subject, relation, constant = tree[2], op, right
        elif right is None and left is not None:
            subject, relation, constant = tree[3], _MIRROR[op], left
        else:
            subject, relation, constant = None, "", 0
        if subject is not None:
            k = key(subject, calls, abstract, inline)
            if k is None:
                return None
            return k, relation if positive else _NEGATE[relation], constant
    if constant_of(tree) is not None:
        return None                                   # a constant decides nothing
    k = key(tree, calls, abstract, inline)
    if k is None:
        return None
    return k, "!=" if positive else "==", 0


def _satisfiable(constraints) -> bool:
    """Is there an integer meeting every (relation, constant)?"""
    lo, hi, equal, excluded = None, None, set(), set()
    for relation, c in constraints:
        if relation == "==":
            equal.add(c)
        elif relation == "!=":
            excluded.add(c)
        elif relation in ("<", "<="):
            bound = c - 1 if relation == "<" else c
            hi = bound if hi is None else min(hi, bound)
        else:
            bound = c + 1 if relation == ">" else c
            lo = bound if lo is None else max(lo, bound)
    if len(equal) > 1:
        return False
    if equal:
        (v,) = equal
        return v not in excluded and (lo is None or v >= lo) and (hi is None or v <= hi)
    if lo is not None and hi is not None:
        return hi - lo + 1 > len({x for x in excluded if lo <= x <= hi})
    return True
