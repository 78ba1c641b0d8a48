"""flake8-style text: `path:line:col: QL101 [lock-required] message`, the path under it with
--show-path."""
from __future__ import annotations


def render(findings, show_path: bool = False, color: bool = False) -> str:
    lines = []
    for f in findings:
        code = f"\033[1;31m{f.rule}\033[0m" if color else f.rule
        head = f"{f.path}:{f.line}:{f.column}: {code} [{f.name}] {f.message}"
        if f.confirmation:
            head += f" [{f.confirmation.get('status', '')}]"
        lines.append(head)
        if f.contract is not None:
            lines.append(f"    contract: {f.contract.words()}")
        if show_path:
            lines += ["    " + step_text(i, step) for i, step in enumerate(f.trace, 1)]
            for r in f.related:
                lines.append(f"    see {r.path}:{r.line}: {r.message}")
    return "".join(line + "\n" for line in lines)


def step_text(number: int, step) -> str:
    return f"{number}. {step.path}:{step.line}: {step.function}: {step.note}"


def statistics(findings) -> str:
    counts: dict[tuple, int] = {}
    for f in findings:
        counts[(f.rule, f.name)] = counts.get((f.rule, f.name), 0) + 1
    return "".join(f"{n:<5} {rule} [{name}]\n" for (rule, name), n in sorted(counts.items()))
