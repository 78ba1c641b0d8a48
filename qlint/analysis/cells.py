"""The coordinates of a violation. A Cell says what kind of violation it is:
  table   what the pack says is violated: "requires" ([[requires]], [[inside]]), "excludes",
          "contract" (what a function may assume), "lock" / "section" (begin and end
          balance), "across-deferral"
  kind    the kind of the lock or section it is about: "lock", "section", "context"
  by      how the requirement is declared: "name" (functions by name) or "attribute"
          (declarations carrying an attribute); "" where that makes no difference
  shape   where and how it shows (SHAPES)

`possible()` and `entry_cells()` say which cells the entries of a pack can produce; a
Violation is one found, in a cell.
"""
from __future__ import annotations

from typing import NamedTuple

KINDS = ("lock", "section", "context")
BY = ("name", "attribute")
ENDED = ("lock", "section")          # kinds whose sections a function can end (contexts: none)

SHAPES = {
    "entry": "unmet on a path from an entry point",
    "local": "unmet at a call in a function that ended (or holds) it itself",
    "inherited": "unmet at a call, in a function that ended (or holds) it, of a function "
                 "that needs it further down",
    "undeclared": "needed by a call in a function that neither provides nor declares it",
    "annotatable": "needed by a call in a function that does not declare it, but whose every "
                   "caller and registration provides it",
    "passed": "needed by a callback that a function passes on to be called, where it neither "
              "provides nor declares it",
    "asserted": "asserted by a function that answers for a context itself, reached in that "
                "context from a function that neither provides nor declares it",
    "registration": "assumed by a function registered as a callback whose kind does not "
                    "provide it",
    "paths": "left differently by the paths of a function",
    "twice": "ended twice on one path",
    "entry-point": "left open, or ended without being held, by an entry point",
    "handoff": "not ended by the deferred callback it was handed to",
    "deferral": "open across a deferral without the section that must span it",
}


class Cell(NamedTuple):
    table: str
    kind: str
    by: str
    shape: str

    def words(self) -> str:
        """`excludes a context (by name), unmet on a path from an entry point`."""
        by = f" (by {self.by})" if self.by else ""
        return f"{self.table} a {self.kind}{by}, {SHAPES[self.shape]}"


def possible(table: str, kind: str, by: str = "") -> list[Cell]:
    """The cells an entry of `table` about a `kind` (declared `by`) can produce."""
    if table == "requires":
        shapes = ["entry"] + (["local", "inherited"] if kind in ENDED else []) + \
            (["undeclared", "annotatable", "passed"] if by == "attribute" else [])
    elif table == "excludes":
        shapes = ["entry", "local", "inherited"]
    elif table == "contract":
        shapes = ["registration"]
    elif table in ENDED and table == kind:
        shapes = ["paths", "twice", "entry-point", "handoff"]
    elif table == "across-deferral" and kind in ENDED:
        shapes = ["deferral"]
    else:
        shapes = []
    return [Cell(table, kind, by, shape) for shape in shapes]


def entry_cells(item, kinds: dict) -> list[Cell]:
    """The cells a pack entry can produce (`kinds`: each section's kind by name)."""
    table = item.origin.table
    if table in ("requires", "excludes"):
        return possible(table, kinds.get(item.lock, ""), "attribute" if item.attribute else "name")
    if table == "inside":
        return possible("requires", kinds.get(item.section, ""), "name")
    if table == "contract":
        return [c for lock in item.holds for c in possible("contract", kinds.get(lock, ""))]
    if table in ENDED:
        # A lock some function asserts by its attributes (TSA_ASSERT_SHARED) can be asserted
        # where nothing holds it.
        asserted = [Cell("requires", table, "attribute", "asserted")] \
            if getattr(item, "switch_attrs", ()) else []
        return possible(table, table) + asserted
    if table == "across-deferral":
        return possible(table, kinds.get(item.section, ""))
    return []


class Violation:
    """One violation: its cell, the function it is reported in, and what the rule reporting
    it needs to say so (the entry point and chain, the witness, the path ...)."""

    def __init__(self, cell: Cell, function: str, **facts):
        self.cell = cell
        self.function = function
        self.__dict__.update(facts)


def cells(tables, kinds, by, shapes) -> tuple[Cell, ...]:
    """Every cell of the product (each argument a name or a tuple of names), in order."""
    def names(value):
        return (value,) if isinstance(value, str) else tuple(value)
    return tuple(Cell(t, k, b, s) for t in names(tables) for k in names(kinds)
                 for b in names(by) for s in names(shapes))


# Tables whose violations need an entry of another table too: what must span a deferral
# cannot be violated without a deferral.
COMPANION = {"across-deferral": ("deferral", "deferrals")}     # table: (its companion, list)


def pack_cells(pack) -> set[Cell]:
    """The cells the entries of a (usually active) pack can produce."""
    kinds = pack.section_kinds()
    found = {c for item in pack.items() for c in entry_cells(item, kinds)}
    return {c for c in found if c.table not in COMPANION or getattr(pack, COMPANION[c.table][1])}
