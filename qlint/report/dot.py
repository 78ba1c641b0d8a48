"""Graphviz pictures (`--dot`, `--dot-dir`): findings' paths from their entry points, or a
graph query.

    qlint check block/linux-aio.c --dot | dot -Tsvg > paths.svg
    qlint check block/ --dot-dir pictures/      # one file per finding
"""
from __future__ import annotations

import html
import math
import os
import textwrap

from ..errors import QlintError

FONT = "Helvetica"
ENTRY_FILL, STEP_FILL, VIOLATION_FILL, RELATED_FILL = "#dbeafe", "#f3f4f6", "#fee2e2", "#fefce8"
HEADER = [
    f'  graph [fontname="{FONT}", fontsize=11, rankdir=TB, nodesep=0.3, ranksep=0.35];',
    f'  node [fontname="{FONT}", fontsize=10, shape=box, style="rounded,filled", '
    f'fillcolor="{STEP_FILL}", color="#6b7280"];',
    f'  edge [fontname="{FONT}", fontsize=9, color="#374151"];',
]


def _q(text: str) -> str:
    """A DOT string (identifier or plain label)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _rows(title: str, lines, width: int) -> list[tuple[str, str]]:
    """The rows of a label: ("title", text), then ("where", location) for a line starting with
    "@", and ("text", part) for the other lines, wrapped at `width` characters."""
    rows = [("title", title)]
    for line in filter(None, lines):
        if line.startswith("@"):
            rows.append(("where", line[1:]))
        else:
            rows += [("text", part) for part in textwrap.wrap(line, width, break_on_hyphens=False)]
    return rows


ROW_MARKUP = {"title": "<b>{}</b>", "where": '<font point-size="8" color="#6b7280">{}</font>',
              "text": '<font point-size="9">{}</font>'}


def _html(title: str, *lines: str, width: int = 56) -> str:
    """An HTML-like label: the title in bold, then smaller lines, wrapped; a line starting
    with "@" is a location, in gray."""
    return "<" + "<br/>".join(ROW_MARKUP[kind].format(html.escape(text))
                              for kind, text in _rows(title, lines, width)) + ">"


# How big dot draws a label, roughly (Helvetica at 8-11 points, node margins): enough to choose
# a grid's shape, not to place anything.
CHAR_INCHES, ROW_INCHES, NODE_INCHES, CLUSTER_INCHES = 0.07, 0.16, 0.45, 0.6


def findings(found) -> str:
    """One cluster per finding, laid out in a grid about as wide as tall (dot would put them
    all in one row): each cluster stands below the one `columns` before it, and the clusters of
    a row start at the same height."""
    out = ["digraph qlint {", *HEADER, '  graph [labeljust=l, style="rounded", color="#9ca3af", '
           'newrank=true];']
    ends, sizes = [], []
    for n, f in enumerate(found, 1):
        lines, bottom, size = _cluster(n, f)
        out += lines
        ends.append((f"f{n}_0", bottom))
        sizes.append(size)
    columns = grid_columns(sizes)
    for row in range(0, len(ends), columns):
        firsts = " ".join(first for first, _last in ends[row:row + columns])
        out.append(f"  {{ rank=same; {firsts} }}")
    for i in range(len(ends) - columns):
        out.append(f"  {ends[i][1]} -> {ends[i + columns][0]} [style=invis];")
    out.append("}")
    return "\n".join(out) + "\n"


def grid_columns(sizes: list[tuple[float, float]]) -> int:
    """The number of columns that makes a grid of boxes of these (width, height) closest to
    square: a column is as wide as its widest box, a row as tall as its tallest."""
    def shape(columns: int) -> float:
        width = sum(max(w for w, _h in sizes[c::columns]) for c in range(columns))
        height = sum(max(h for _w, h in sizes[r:r + columns]) for r in range(0, len(sizes), columns))
        return abs(math.log(width / height))
    return min(range(1, len(sizes) + 1), key=shape) if sizes else 1


def finding(f) -> str:
    """The digraph of one finding."""
    lines, _bottom, _inches = _cluster(1, f)
    return "\n".join(["digraph qlint {", *HEADER,
                      '  graph [labeljust=l, style="rounded", color="#9ca3af"];', *lines, "}"]) + "\n"


def write_each(found, directory: str) -> list[str]:
    """One file per finding in `directory` (made if missing): NNN-RULE[-function].dot, in
    report order; returns their names."""
    try:
        os.makedirs(directory, exist_ok=True)
        names = []
        for n, f in enumerate(found, 1):
            name = f"{n:03d}-{f.rule}" + (f"-{f.function}" if f.function else "") + ".dot"
            with open(os.path.join(directory, name), "w", encoding="utf-8") as out:
                out.write(finding(f))
            names.append(name)
        return names
    except OSError as e:
        raise QlintError(f"{directory}: cannot write the pictures: {e.strerror}") from None


def _cluster(n: int, f) -> tuple[list[str], str, tuple[float, float]]:
    """The cluster of finding number `n`: the functions of its path, top to bottom, the
    violating call in red, related locations (registrations, other entry points) dashed below
    it; a node of its bottom row; and its rough size in inches (width, height)."""
    labels = [((f"{f.rule} [{f.name}]", f"@{f.path}:{f.line}", f.message), 90)]
    out = [f"  subgraph cluster_{n} {{", f"    label={_html(*labels[0][0], width=90)};"]
    groups = _by_function(f.trace) or [(f.function, [(f.path, f.line, f.message)])]
    for i, (function, notes) in enumerate(groups):
        fill = ENTRY_FILL if i == 0 and len(groups) > 1 else STEP_FILL
        if i == len(groups) - 1:
            fill = VIOLATION_FILL
        lines = [text for path, line, note in notes for text in (f"@{path}:{line}", note)]
        attrs = f'fillcolor="{fill}"' + (', color="#b91c1c", penwidth=1.5'
                                         if fill == VIOLATION_FILL else "")
        labels.append(((function, *lines), 56))
        out.append(f"    f{n}_{i} [label={_html(function, *lines)}, {attrs}];")
        if i:
            out.append(f"    f{n}_{i - 1} -> f{n}_{i};")
    last = len(groups) - 1
    if f.related:         # one node under the violation: many side by side would widen the picture
        lines = [text for r in f.related for text in (f"@{r.path}:{r.line}", r.message)]
        labels.append((("see", *lines), 56))
        out.append(f"    f{n}_r [label={_html('see', *lines)}, "
                   f'fillcolor="{RELATED_FILL}", style="rounded,filled,dashed"];')
        out.append(f"    f{n}_{last} -> f{n}_r [style=dashed, arrowhead=none];")
    out.append("  }")
    return out, f"f{n}_r" if f.related else f"f{n}_{last}", _size(labels)


def _size(labels) -> tuple[float, float]:
    """The rough size of a cluster whose first label is its own and the others its nodes'."""
    rows = [_rows(title, lines, width) for (title, *lines), width in labels]
    chars = max(len(text) for label in rows for _kind, text in label)
    height = sum(len(label) for label in rows) * ROW_INCHES + (len(rows) - 1) * NODE_INCHES
    return chars * CHAR_INCHES + CLUSTER_INCHES, height + CLUSTER_INCHES


def _by_function(trace) -> list[tuple[str, list]]:
    """Consecutive steps in the same function as one node."""
    groups: list[tuple[str, list]] = []
    for step in trace:
        if not groups or groups[-1][0] != step.function:
            groups.append((step.function, []))
        groups[-1][1].append((step.path, step.line, step.note))
    return groups


def hops(program, found, highlight, relative) -> str:
    """The functions and hops of a graph query; callback registrations dashed, the queried
    functions filled. `relative` makes a file name printable."""
    out = ["digraph qlint {", *HEADER]
    keys = sorted({h.caller for h in found} | {h.callee for h in found} | set(highlight))
    ident = {key: f"n{i}" for i, key in enumerate(keys)}    # keys hold absolute paths
    for key in keys:
        fn = program.functions.get(key)
        where = f"@{relative(fn.file)}:{fn.line}" if fn else ""
        fill = f', fillcolor="{ENTRY_FILL}", penwidth=1.5' if key in highlight else ""
        out.append(f"  {ident[key]} [label={_html(program.name_of(key), where)}{fill}];")
    seen = set()
    for h in found:
        edge = (h.caller, h.callee, h.label, h.line)
        if edge in seen:
            continue
        seen.add(edge)
        style = ", style=dashed" if h.callback else ""
        out.append(f"  {ident[h.caller]} -> {ident[h.callee]} "
                   f"[label={_q(f'{h.label} (line {h.line})')}{style}];")
    out.append("}")
    return "\n".join(out) + "\n"
