"""The JSON report: {"version", "findings", "problems", "stats"}; sorted keys, stable order."""
from __future__ import annotations

import json
import os

from .. import __version__
from .model import portable


def finding_dict(f, path=lambda p: p) -> dict:
    out = {
        "rule": f.rule, "name": f.name, "level": f.level, "path": path(f.path), "line": f.line,
        "column": f.column, "function": f.function, "message": f.message,
        "trace": [{"function": s.function, "path": path(s.path), "line": s.line, "note": s.note}
                  for s in f.trace],
        "related": [{"path": path(r.path), "line": r.line, "message": r.message}
                    for r in f.related],
        "fingerprint": f.fingerprint,
    }
    if f.contract is not None:
        c = f.contract
        out["contract"] = {"function": c.function, "lock": c.lock, "kind": c.kind,
                           "path": path(c.path), "line": c.line, "text": c.text,
                           "held": c.held, "total": c.total, "confidence": c.confidence}
    if f.confirmation is not None:
        out["confirmation"] = f.confirmation
    return out


def render(findings, stats: dict, problems: list, base: str = "", absolute: bool = False) -> str:
    """The report; without the run's duration, so that the same input gives the same bytes.
    Paths are relative to `base` (with `../` outside it), or absolute when asked."""
    def path(p: str) -> str:
        if absolute:
            return os.path.normpath(os.path.join(base, p)) if p else p
        return portable(p, base) if base else p
    data = {
        "version": __version__,
        "findings": [finding_dict(f, path) for f in findings],
        "problems": [dict(p, path=path(p["path"])) for p in problems],
        "stats": {k: v for k, v in stats.items() if k != "seconds"},
    }
    return json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
