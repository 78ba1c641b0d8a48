"""Counterexamples as a picture: one self-contained HTML page, an SVG swimlane per confirmed
finding (a lane per thread, a box per event, the violating event in red; hover for the full
text). No scripts, no external resources, no timestamps: the same replay gives the same file."""
from __future__ import annotations

import os
import textwrap
from html import escape

LANE = 460
ROW = 20
LINE = 14            # a further line of a wrapped label
CHARS = 64           # characters of a label line: (LANE - 16) / 6.6 px, rounded down, less margin
HEAD = 28
STEP_W = 44
COLORS = ("#dbe9f6", "#e3f1dc", "#f6ead8", "#eadcf3")


def render(replays) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>qlint replay</title>",
             "<style>body{font-family:sans-serif;margin:1.5em}h2{font-size:1.05em}"
             "p{margin:.3em 0}text{font-family:monospace;font-size:11px}</style>",
             "</head><body>", "<h1>qlint replay: counterexamples</h1>"]
    shown = [r for r in replays if r.confirmation.get("status") == "confirmed"]
    if not shown:
        parts.append("<p>No finding was confirmed.</p>")
    for r in shown:
        parts += _section(r)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _section(r) -> list[str]:
    f, c = r.finding, r.confirmation
    head = f"{f['path']}:{f['line']}: {f['rule']} {f.get('message', '')}"
    return [f"<h2>{escape(head)}</h2>",
            f"<p><b>confirmed: {escape(c['invariant'])}</b>: {escape(c['message'])}</p>",
            f"<p>{c['steps']} steps, {c['preemptions']} preemption(s); era {escape(c['era'])}; "
            f"{c['coverage']['states']} states explored</p>",
            _svg(r.timeline, r.threads)]


def _svg(entries, threads) -> str:
    """Lanes side by side; each event a box as tall as its label, wrapped to the lane's width
    (a label is never cut: the whole text is in the box, and in its hover title)."""
    labels = [_wrapped(e) for e in entries]
    width = STEP_W + LANE * len(threads)
    height = HEAD + sum(_box_height(len(lines)) for lines in labels) + 4
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">']
    for i, name in enumerate(threads):
        x = STEP_W + LANE * i
        out.append(f'<rect x="{x}" y="0" width="{LANE}" height="{height}" fill="#fafafa" '
                   f'stroke="#ccc"/>')
        out.append(f'<text x="{x + 6}" y="18" font-weight="bold">{escape(name)}</text>')
    last_step = None
    y = HEAD
    for e, lines in zip(entries, labels):
        lane = threads.index(e.thread) if e.thread in threads else 0
        x = STEP_W + LANE * lane
        if e.step != last_step:
            out.append(f'<line x1="0" y1="{y}" x2="{width}" y2="{y}" stroke="#eee"/>')
            out.append(f'<text x="4" y="{y + 14}">{e.step}</text>')
            last_step = e.step
        fill = "#f4b6b6" if e.violation else COLORS[lane % len(COLORS)]
        full = f"{e.function}: {_where(e)}{e.text}" if e.path else f"{_where(e)}{e.text}"
        text = "".join(f'<tspan x="{x + 8}" dy="{0 if i == 0 else LINE}">{escape(line)}</tspan>'
                       for i, line in enumerate(lines))
        box = _box_height(len(lines))
        out.append(f'<g><title>{escape(full)}</title>'
                   f'<rect x="{x + 3}" y="{y + 2}" width="{LANE - 6}" height="{box - 3}" rx="3" '
                   f'fill="{fill}"/><text x="{x + 8}" y="{y + 15}">{text}</text></g>')
        y += box
    out.append("</svg>")
    return "\n".join(out)


def _where(e) -> str:
    return f"{os.path.basename(e.path)}:{e.line} " if e.path else f"[{e.function}] "


def _wrapped(e) -> list[str]:
    """An event's label in lines that fit its lane (11px monospace: about 6.6px a character)."""
    return textwrap.wrap(_where(e) + e.text, CHARS, break_on_hyphens=False) or [""]


def _box_height(lines: int) -> int:
    return ROW + LINE * (lines - 1)
