"""One owner for every kind of violation. Each rule says which cells it owns (Rule.owns,
qlint/analysis/cells.py); the few the engine computes but nobody reports are NOT_REPORTED,
each with the reason. A cell with no owner, or two, is an error when the packs are loaded
(check_ownership): a violation is never dropped unsaid. `dispatch` walks the analysis's
violations once and hands each to its owner."""
from __future__ import annotations

from ..analysis.cells import COMPANION, KINDS, SHAPES, Cell, cells, entry_cells, pack_cells
from ..analysis.violations import find
from ..errors import QlintError
from ..pack.model import Section

NOT_REPORTED = {
    **{cell: "an attribute's requirement is reported where the call is made (undeclared or "
             "annotatable), not on every path from an entry point to it"
       for cell in cells("requires", KINDS, "attribute", "entry")},
    **{cell: "a no_coroutine_fn on a path from a coroutine entry function not declared "
             "coroutine_fn is not reported: through struct fields such paths reach far more "
             "than runs in the coroutine (QEMU 10.0: 467 calls, all from handle_hmp_command_co() "
             "through every HMP command); a coroutine_fn's helpers are (QL302)"
       for cell in cells("excludes", "context", "attribute", "entry")},
}


def owners(rules) -> dict[Cell, list[str]]:
    """Who reports each cell: rule codes, or "not reported" (NOT_REPORTED)."""
    found: dict[Cell, list[str]] = {cell: ["not reported"] for cell in NOT_REPORTED}
    for rule in rules:
        for cell in rule.owns:
            found.setdefault(cell, []).append(rule.code)
    return found


def check_ownership(pack, rules) -> None:
    """Every violation an entry of the pack can produce has exactly one owner (QlintError
    naming the entry and the violation if not)."""
    table = owners(rules)
    kinds = pack.section_kinds()
    for item in pack.items():
        for cell in entry_cells(item, kinds):
            found = table.get(cell, [])
            if len(found) == 1:
                continue
            problem = f"no rule reports a violation of it: {cell.words()}" if not found else \
                f"{len(found)} rules report one violation of it ({', '.join(found)}): " \
                f"{cell.words()}"
            raise QlintError(f"{item.origin}: [[{item.origin.table}]] {problem} (every kind of "
                             f"violation needs exactly one owner)")


def dispatch(ctx, rules) -> list:
    """The findings of `rules` (classes): the analysis's violations in the cells they own, each
    reported by its owner."""
    owner = {cell: reporter for reporter in (rule() for rule in rules) for cell in reporter.owns}
    wanted = set(owner) & pack_cells(ctx.pack)
    if not wanted:
        return []
    return [owner[v.cell].report(ctx, v) for v in find(ctx.locks, wanted)]


def inactive_reason(rule, pack) -> str:
    """Why `rule` cannot report anything with this active pack, or "": no active entry
    produces a violation it owns; the first inactive one that would, and why it is inactive."""
    owned = set(rule.owns)
    if not owned or owned & pack_cells(pack):
        return ""
    kinds = {item.name: item.kind for item, _why in pack.inactive if isinstance(item, Section)}
    kinds.update(pack.section_kinds())
    declared = [item for item in pack.items() if owned & set(entry_cells(item, kinds))]
    if declared:                      # declared, but what they need besides is not active
        return _what_is_missing(declared[0], pack)
    for item, why in pack.inactive:
        if owned & set(entry_cells(item, kinds)):
            by = "attribute" if item.origin.table in ("requires", "excludes") and item.attribute \
                else ""
            return f"no active {declaration(Cell(item.origin.table, '', by, ''))} entry: {why}"
    return f"no active {declaration(rule.owns[0])} entry"


def _what_is_missing(item, pack) -> str:
    """Why an active entry cannot be violated: the table it needs besides has no active
    entry ([[deferral]] for [[across-deferral]]), or the lock or section it is about is
    declared only by an inactive pack."""
    table = item.origin.table
    if table in COMPANION:
        companion = COMPANION[table][0]
        why = [w for inactive, w in pack.inactive if inactive.origin.table == companion]
        return f"no active [[{companion}]] entry" + (f": {why[0]}" if why else "")
    about = getattr(item, "lock", "") or getattr(item, "section", "")
    for inactive, why in pack.inactive:
        if isinstance(inactive, Section) and inactive.name == about:
            return f"no active [[{inactive.origin.table}]] {about}: {why}"
    return f"no active [[lock]] or [[section]] {about}"


def declaration(cell: Cell) -> str:
    """The table that declares violations of this cell: `[[requires]] attribute`, `[[inside]]`."""
    if cell.table == "requires" and cell.by == "name" and cell.kind == "section":
        return "[[inside]]"
    return f"[[{cell.table}]]" + (" attribute" if cell.by == "attribute" else "")


def ownership_table(rules) -> str:
    """Who reports what, in Markdown (docs/configuration.md, "Who reports what"): a row per
    table, kind and declaration, its shapes grouped by owner."""
    table = owners(rules)
    rows = {}
    for cell in sorted(table, key=_cell_order):
        shapes = rows.setdefault((cell.table, cell.kind, cell.by), {})
        shapes.setdefault(table[cell][0], []).append(cell.shape)
    out = ["| violated | kind | declared by | shape: reported by |", "| --- | --- | --- | --- |"]
    for (violated, kind, by), shapes in rows.items():
        owned = "; ".join(f"{', '.join(s)}: {who}" for who, s in shapes.items())
        out.append(f"| `{violated}` | {kind} | {by or 'either'} | {owned} |")
    out += ["", "| shape | the violation is ... |", "| --- | --- |"]
    out += [f"| {shape} | {words} |" for shape, words in SHAPES.items()]
    out += ["", "Not reported:", ""]
    out += [f"- `{c.table}` {c.kind} by {c.by}, {c.shape}: {why}."
            for c, why in NOT_REPORTED.items()]
    return "\n".join(out) + "\n"


def _cell_order(cell: Cell) -> tuple:
    tables = ("requires", "excludes", "contract", "lock", "section", "across-deferral")
    return (tables.index(cell.table), KINDS.index(cell.kind), cell.by != "name",
            list(SHAPES).index(cell.shape))
