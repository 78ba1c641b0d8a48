"""A counterexample as text: one column per thread, one row per event, each with its source
location; the violating event is marked."""
from __future__ import annotations

import os
import textwrap

STEP = 5


def render(entries, threads, width: int = 100) -> str:
    """The thread timeline: `step | thread 1 | thread 2 ...` (threads in scenario order)."""
    columns = len(threads) or 1
    col = max(24, (width - STEP - 3 * columns) // columns)
    lines = [_row("step", [t for t in threads], col), _rule(columns, col)]
    last_step, last_fn = None, {}
    for e in entries:
        cells = [[] for _ in threads]
        i = threads.index(e.thread) if e.thread in threads else 0
        if e.path and last_fn.get(e.thread) != e.function:
            cells[i].append(f"{e.function}():")
        last_fn[e.thread] = e.function if e.path else ""
        where = f"{os.path.basename(e.path)}:{e.line} " if e.path else ""
        mark = "!! " if e.violation else ""
        cells[i] += textwrap.wrap(f"{mark}{where}{e.text}", col, subsequent_indent="   ") or [""]
        step = str(e.step) if e.step != last_step else ""
        last_step = e.step
        for k in range(max(len(c) for c in cells)):
            row = [c[k] if k < len(c) else "" for c in cells]
            lines.append(_row(step if k == 0 else "", row, col))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _row(step: str, cells, col: int) -> str:
    return f"{step:>{STEP}} | " + " | ".join(f"{c:<{col}}" for c in cells)


def _rule(columns: int, col: int) -> str:
    return "-" * STEP + "-+-" + "-+-".join("-" * col for _ in range(columns))
