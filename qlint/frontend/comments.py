"""The comment written directly above a declaration, read from the source bytes.

libclang keeps only documentation comments (`/**`, `///`) unless every TU is parsed with
-fparse-all-comments, and QEMU writes its contracts in plain `/* ... */` as often. A comment
belongs to a declaration when it ends on the line right above it (no blank line between) and
begins a line of its own: `int x; /* note */` above a prototype is the previous line's comment.
"""
from __future__ import annotations

import bisect

MAX_BYTES = 4096          # a longer block is a file or section banner, not a declaration's


class SourceText:
    """One file's bytes and line starts (a comment's line is found by bisection)."""

    __slots__ = ("data", "_starts")

    def __init__(self, data: bytes):
        self.data = data
        self._starts = None

    def line_of(self, offset: int) -> int:
        if self._starts is None:
            starts, at = [0], self.data.find(b"\n")
            while at >= 0:
                starts.append(at + 1)
                at = self.data.find(b"\n", at + 1)
            self._starts = starts
        return bisect.bisect_right(self._starts, offset)


def comment_above(source: SourceText, offset: int) -> tuple[int, str] | None:
    """(line, text) of the comment directly above the declaration that starts at `offset`, or
    None. The text has the comment markers and each line's leading `*` removed; its lines
    are kept (joined by "\\n"), the first being `line`'s."""
    data = source.data
    line_start = data.rfind(b"\n", 0, offset) + 1
    if data[line_start:offset].strip():
        return None                       # something else precedes it on its line
    end = line_start - 1                  # the newline that ends the line above
    if end < 0:
        return None
    above_start = data.rfind(b"\n", 0, end) + 1
    above = data[above_start:end].strip()
    if above.endswith(b"*/"):
        close = data.rfind(b"*/", above_start, end)
        open_ = data.rfind(b"/*", max(0, close - MAX_BYTES), close)
        if open_ < 0 or data[data.rfind(b"\n", 0, open_) + 1:open_].strip():
            return None
        if b"*/" in data[open_ + 2:close]:
            return None                   # the `/*` of another comment: ours began earlier
        body = data[open_ + 2:close]
        lines = body.decode("utf-8", "replace").split("\n")
        lines[0] = lines[0].lstrip("*!")  # `/**`, `/*!` openers
        return _clean(source.line_of(open_), lines)
    if above.startswith(b"//"):
        first = above_start
        while first > 0:
            prev = data.rfind(b"\n", 0, first - 1) + 1
            if not data[prev:first - 1].strip().startswith(b"//") or first - prev > MAX_BYTES:
                break
            first = prev
        lines = data[first:end].decode("utf-8", "replace").split("\n")
        return _clean(source.line_of(first), [ln.strip()[2:].lstrip("/!") for ln in lines])
    return None


def _clean(line: int, lines: list[str]) -> tuple[int, str]:
    """(the line of the first line with text, the text): each line without its leading `*`."""
    out = []
    for ln in lines:
        ln = ln.strip()
        if ln.startswith("*"):
            ln = ln[1:].strip()
        out.append(ln)
    while out and not out[0]:
        out.pop(0)
        line += 1
    while out and not out[-1]:
        out.pop()
    return line, "\n".join(out)
