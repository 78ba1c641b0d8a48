"""flake8-style text: `path:line:col: QL101 [lock-required] message` (`warning: message`,
`note: message` for findings that mean less than an error), the path under it with
--show-path, the source lines with --show-source, and the closing summary on a terminal."""
from __future__ import annotations

from ..files import read_regular

RED, BOLD_RED, RESET = "\033[31m", "\033[1;31m", "\033[0m"


class Source:
    """Lines of the reported files (paths as the report gives them), read once each."""

    def __init__(self):
        self._lines: dict[str, list[str]] = {}

    def line(self, path: str, number: int) -> str | None:
        lines = self._lines.get(path)
        if lines is None:
            try:
                data = read_regular(path).decode("utf-8", errors="replace")
            except OSError:
                data = ""
            # clang's line ends: CR LF, LF and a lone CR
            lines = self._lines[path] = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        return lines[number - 1] if 0 < number <= len(lines) else None


def render(findings, show_path: bool = False, color: bool = False,
           source: Source | None = None) -> str:
    lines = []
    for f in findings:
        code = f"{BOLD_RED}{f.rule}{RESET}" if color else f.rule
        level = f"{f.level}: " if f.level != "error" else ""
        head = f"{f.path}:{f.line}:{f.column}: {code} [{f.name}] {level}{f.message}"
        if f.confirmation:
            head += f" [{confirmation_text(f.confirmation)}]"
        lines.append(head)
        if f.contract is not None:
            lines.append(f"    contract: {f.contract.words()}")
        if source:
            lines += frame(source, f.path, f.line, f.column, "    ", color)
        if f.confirmation and f.confirmation.get("status") == "not-reproduced" and \
                "coverage" in f.confirmation:
            lines.append("    not reproduced; explored: " + explored(f.confirmation))
        if show_path:
            for i, step in enumerate(f.trace, 1):
                lines.append("    " + step_text(i, step))
                if source:
                    lines += frame(source, step.path, step.line, step.column, "       ", color)
            for r in f.related:
                lines.append(f"    see {r.path}:{r.line}: {r.message}")
    return "".join(line + "\n" for line in lines)


def confirmation_text(confirmation: dict) -> str:
    """The replay's status; for a finding the engine does not model, why (its first clause).
    (A finding not reproduced gets what was explored on a line of its own.)"""
    status = confirmation.get("status", "")
    reason = confirmation.get("reason", "")
    if status == "not-modelled" and reason:
        return f"{status}: {reason.split(': ', 1)[0]}"
    return status


def explored(c: dict) -> str:
    """The coverage of a record in words: what was explored, what cut it, what was unknown."""
    cov = c.get("coverage", {})
    if c["mode"] == "schedule":
        return f"the recorded schedule ({cov.get('states', 1) - 1} steps)"
    if c["mode"] == "pct":
        hits = f"{c['hits']} hit(s), the first in run {c['first_hit']}" if c["hits"] else "no hit"
        head = (f"{c['runs']} PCT runs (seed {c['seed']}, depth {c['bound']['pct_depth']}): "
                f"{hits}; {count(cov.get('states', 0), 'state')}")
    else:
        head = (f"{count(cov.get('states', 0), 'state')}, "
                f"{count(cov.get('schedules', 0), 'schedule')} within "
                f"{count(c['bound']['preemptions'], 'preemption')}, "
                f"{count(cov.get('choice_points', 0), 'choice point')} explored every way")
    cuts = cov.get("cuts", {})
    if c.get("complete"):
        head += " (the whole bounded space: nothing cut)"
    else:
        head += "; cut: " + "; ".join(f"{why} ({n}×)" for why, n in cuts.items())
    unknowns = cov.get("unknowns", {})
    if unknowns:
        head += "; unknown to the model: " + ", ".join(f"{what} ({n}×)"
                                                       for what, n in unknowns.items())
    rejected = cov.get("rejected", {})
    if rejected:
        head += "; violations set aside: " + ", ".join(f"{why} ({n}×)"
                                                       for why, n in rejected.items())
    return head


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def frame(source: Source, path: str, line: int, column: int, indent: str,
          color: bool) -> list[str]:
    """The source line `line` of `path` under its number, a caret under `column` (when known)."""
    text = source.line(path, line)
    if text is None:
        return []
    number = str(line)
    gutter = " " * len(number)
    out = [f"{indent}{number} | {text.expandtabs(8)}"]
    if column > 0:
        caret = f"{RED}^{RESET}" if color else "^"
        offset = len(text[:column - 1].expandtabs(8))
        out.append(f"{indent}{gutter} | {' ' * offset}{caret}")
    return out


def step_text(number: int, step) -> str:
    return f"{number}. {step.path}:{step.line}: {step.function}: {step.note}"


def statistics(findings) -> str:
    counts: dict[tuple, int] = {}
    for f in findings:
        counts[(f.rule, f.name)] = counts.get((f.rule, f.name), 0) + 1
    return "".join(f"{n:<5} {rule} [{name}]\n" for (rule, name), n in sorted(counts.items()))


def summary(found: int, baselined: int = 0) -> str:
    """The closing line on a terminal, as ruff's: "Found 3 findings." / "All checks passed."."""
    hidden = f" ({baselined} hidden by the baseline)" if baselined else ""
    if not found:
        return f"All checks passed{hidden}.\n"
    return f"Found {found} finding{'s' if found != 1 else ''}{hidden}.\n"
