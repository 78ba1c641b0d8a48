"""Baselines: `--write-baseline FILE` records the current findings by fingerprint, `--baseline
FILE` then reports only findings whose fingerprint it does not hold.

Fingerprints name the rule, the file (relative to the project root, qlint/project.py), the
function and a line-free detail, so code moving around does not resurrect a recorded finding and
a baseline holds whichever directory of the tree qlint runs from. Entries are sorted without
their line numbers, so the file changes only when findings come or go.
"""
from __future__ import annotations

import json

from .errors import QlintError
from .report.model import project_path

FORMAT_KEY = "qlint-baseline"
VERSION = 1


def render(findings, base: str, root: str) -> str:
    """The baseline of `findings` (paths relative to `base`), its paths relative to `root`."""
    entries = sorted(({"fingerprint": f.fingerprint, "rule": f.rule,
                       "path": project_path(f.path, base, root),
                       "function": f.function, "message": f.message} for f in findings),
                     key=lambda e: (e["path"], e["rule"], e["function"], e["fingerprint"]))
    data = {FORMAT_KEY: VERSION, "findings": entries}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(path: str) -> set[str]:
    """The fingerprints a baseline file holds."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise QlintError(f"{path}: cannot read baseline: {e.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise QlintError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(data, dict) or data.get(FORMAT_KEY) != VERSION \
            or not isinstance(data.get("findings"), list):
        raise QlintError(f"{path}: not a qlint baseline (written by --write-baseline: "
                         f'{{"{FORMAT_KEY}": {VERSION}, "findings": [...]}})')
    unknown = sorted(set(data) - {FORMAT_KEY, "findings"})
    if unknown:
        raise QlintError(f"{path}: unknown key '{unknown[0]}'")
    prints = set()
    for i, entry in enumerate(data["findings"]):
        if not isinstance(entry, dict) or "fingerprint" not in entry:
            raise QlintError(f"{path}: findings[{i}]: missing 'fingerprint'")
        if not isinstance(entry["fingerprint"], str):
            raise QlintError(f"{path}: findings[{i}]: 'fingerprint' must be a string")
        prints.add(entry["fingerprint"])
    return prints


def split(findings, known: set[str]) -> tuple[list, int]:
    """The findings the baseline does not hold, and how many it does."""
    new = [f for f in findings if f.fingerprint not in known]
    return new, len(findings) - len(new)
