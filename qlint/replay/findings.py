"""The findings to replay: one finding of a `qlint check --format json` report, or the whole
report, validated field by field."""
from __future__ import annotations

from ..errors import QlintError
from ..jsonio import parse_json, read_bytes
from ..rules.registry import all_rules

FIELDS = {"rule": str, "path": str, "line": int, "function": str, "trace": list}
STEP_FIELDS = {"function": str, "path": str, "line": int, "note": str}


def load(path: str, fingerprint: str | None = None) -> list[dict]:
    data = parse_json(read_bytes(path, "report"), path)
    if isinstance(data, dict) and "findings" in data:
        findings = data["findings"]
        if not isinstance(findings, list):
            raise QlintError(f"{path}: 'findings' must be a list")
    elif isinstance(data, dict) and "rule" in data:
        findings = [data]
    else:
        raise QlintError(f"{path}: expected a qlint JSON report or one finding of it")
    for i, finding in enumerate(findings):
        _check(path, i, finding)
    if fingerprint is not None:
        findings = [f for f in findings if f.get("fingerprint") == fingerprint]
        if not findings:
            raise QlintError(f"{path}: no finding with fingerprint '{fingerprint}'")
    if not findings:
        raise QlintError(f"{path}: no findings to replay")
    return findings


def _check(path: str, i: int, finding) -> None:
    where = f"{path}: finding {i}"
    if not isinstance(finding, dict):
        raise QlintError(f"{where}: not an object")
    for key, kind in FIELDS.items():
        if key not in finding:
            raise QlintError(f"{where}: missing '{key}'")
        if not _is(finding[key], kind):
            raise QlintError(f"{where}: '{key}' must be {_noun(kind)}")
    if finding["rule"] not in all_rules():
        raise QlintError(f"{where}: unknown rule code '{finding['rule']}' (see `qlint rules`)")
    for j, step in enumerate(finding["trace"]):
        if not isinstance(step, dict):
            raise QlintError(f"{where}: trace step {j} is not an object")
        for key, kind in STEP_FIELDS.items():
            if not _is(step.get(key), kind):
                raise QlintError(f"{where}: trace step {j}: '{key}' must be {_noun(kind)}")
    if not finding["trace"]:
        raise QlintError(f"{where}: 'trace' is empty (the replay follows the finding's path)")


def _is(value, kind) -> bool:
    return isinstance(value, kind) and not (kind is int and isinstance(value, bool))


def _noun(kind) -> str:
    return {str: "a string", int: "an integer", list: "a list"}[kind]
