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
        if show_path:
            for i, step in enumerate(f.trace, 1):
                lines.append("    " + step_text(i, step))
                if source:
                    lines += frame(source, step.path, step.line, step.column, "       ", color)
            for r in f.related:
                lines.append(f"    see {r.path}:{r.line}: {r.message}")
    return "".join(line + "\n" for line in lines)


def confirmation_text(confirmation: dict) -> str:
    """The replay's status; for a finding the engine does not model, why (its first clause)."""
    status = confirmation.get("status", "")
    reason = confirmation.get("reason", "")
    if status == "not-modelled" and reason:
        return f"{status}: {reason.split(': ', 1)[0]}"
    return status


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
