"""The JSON report: {"version", "findings", "problems", "stats"}; sorted keys, stable order."""
from __future__ import annotations

import json

from .. import __version__


def finding_dict(f) -> dict:
    out = {
        "rule": f.rule, "name": f.name, "path": f.path, "line": f.line, "column": f.column,
        "function": f.function, "message": f.message,
        "trace": [{"function": s.function, "path": s.path, "line": s.line, "note": s.note}
                  for s in f.trace],
        "related": [{"path": r.path, "line": r.line, "message": r.message} for r in f.related],
        "fingerprint": f.fingerprint,
    }
    if f.confirmation is not None:
        out["confirmation"] = f.confirmation
    return out


def render(findings, stats: dict, problems: list) -> str:
    """The report; without the run's duration, so that the same input gives the same bytes."""
    data = {
        "version": __version__,
        "findings": [finding_dict(f) for f in findings],
        "problems": problems,
        "stats": {k: v for k, v in stats.items() if k != "seconds"},
    }
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
