"""GitHub Actions workflow commands: one `::error file=…,line=…,col=…,title=…::message` per
finding, shown as an annotation on the pull request's diff; the finding's path from its entry
point follows the message on lines of its own."""
from __future__ import annotations

from .text import step_text

COMMAND = {"error": "error", "warning": "warning", "note": "notice", "none": "notice"}


def _data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def render(findings) -> str:
    lines = []
    for f in findings:
        props = [f"file={_property(f.path)}", f"line={f.line}"]
        if f.column:
            props.append(f"col={f.column}")
        props.append(f"title={_property(f'{f.rule} [{f.name}]')}")
        text = "\n".join([f.message] + [step_text(i, s) for i, s in enumerate(f.trace, 1)])
        lines.append(f"::{COMMAND.get(f.level, 'warning')} {','.join(props)}::{_data(text)}\n")
    return "".join(lines)
