"""Graphviz pictures (`--dot`): a finding's path from its entry point, or a graph query.

    qlint check block/linux-aio.c --dot | dot -Tsvg > paths.svg
"""
from __future__ import annotations

import html
import textwrap

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


def _html(title: str, *lines: str, width: int = 56) -> str:
    """An HTML-like label: the title in bold, then smaller lines, wrapped; a line starting
    with "@" is a location, in gray."""
    rows = [f"<b>{html.escape(title)}</b>"]
    for line in filter(None, lines):
        if line.startswith("@"):
            rows.append(f'<font point-size="8" color="#6b7280">{html.escape(line[1:])}</font>')
            continue
        rows += [f'<font point-size="9">{html.escape(part)}</font>'
                 for part in textwrap.wrap(line, width, break_on_hyphens=False)]
    return "<" + "<br/>".join(rows) + ">"


def findings(found) -> str:
    """One cluster per finding: the functions of its path, top to bottom, the violating call
    in red, related locations (registrations, other entry points) dashed below it."""
    out = ["digraph qlint {", *HEADER, '  graph [labeljust=l, style="rounded", color="#9ca3af"];']
    for n, f in enumerate(found, 1):
        out.append(f"  subgraph cluster_{n} {{")
        out.append(f"    label={_html(f'{f.rule} [{f.name}]', '@' + f'{f.path}:{f.line}', f.message, width=90)};")
        groups = _by_function(f.trace) or [(f.function, [(f.path, f.line, f.message)])]
        for i, (function, notes) in enumerate(groups):
            fill = ENTRY_FILL if i == 0 and len(groups) > 1 else STEP_FILL
            if i == len(groups) - 1:
                fill = VIOLATION_FILL
            lines = [text for path, line, note in notes for text in (f"@{path}:{line}", note)]
            attrs = f'fillcolor="{fill}"' + (', color="#b91c1c", penwidth=1.5'
                                             if fill == VIOLATION_FILL else "")
            out.append(f"    f{n}_{i} [label={_html(function, *lines)}, {attrs}];")
            if i:
                out.append(f"    f{n}_{i - 1} -> f{n}_{i};")
        last = len(groups) - 1
        for k, r in enumerate(f.related):
            out.append(f"    f{n}_r{k} [label={_html('see', f'@{r.path}:{r.line}', r.message)}, "
                       f'fillcolor="{RELATED_FILL}", style="rounded,filled,dashed"];')
            out.append(f"    f{n}_{last} -> f{n}_r{k} [style=dashed, arrowhead=none];")
        out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


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
