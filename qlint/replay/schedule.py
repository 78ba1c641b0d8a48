"""Schedule files: the counterexamples of a replay, so that `qlint replay FINDING.json
--schedule FILE` follows each again, step by step, on the current code.

    {"qlint": "replay-schedule", "version": 1,
     "schedules": [{"finding": {"rule", "path", "line", "function", "fingerprint"},
                    "invariant": "counter-wrap",
                    "threads": ["iothread", "main"],
                    "steps": [["iothread", 11], ["main", 23]],
                    "choices": [[12, [1]]],
                    "start": [[["LinuxAioState", "io_q.in_flight"], 1], [["ring", ""], 1]]}]}

`steps` runs of one thread: the thread takes that many scheduling steps in a row. `choices`
(optional) lists the steps (1-based) that took other than the first way through a choice
point, and which ways. `start` (optional) the start values the counterexample chose for what
nobody set: (object, field path) and value.
"""
from __future__ import annotations

import json

from ..errors import QlintError
from ..jsonio import parse_json, read_bytes

TAG = "replay-schedule"
VERSION = 1
IDENTITY = ("rule", "path", "line", "function", "fingerprint")


def compress(names: list[str]) -> list[list]:
    runs: list[list] = []
    for name in names:
        if runs and runs[-1][0] == name:
            runs[-1][1] += 1
        else:
            runs.append([name, 1])
    return runs


def expand(runs, choices=()) -> list[tuple]:
    """(thread name, choices) per step."""
    picks = {step: tuple(c) for step, c in choices}
    names = [name for name, count in runs for _ in range(count)]
    return [(name, picks.get(i + 1, ())) for i, name in enumerate(names)]


def starts_of(item: dict) -> dict:
    """The start values of a schedule: (object, path) -> value, JSON's lists made tuples."""
    return {_tuples(key): _tuples(value) for key, value in item.get("start", [])}


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def entry(replay) -> dict:
    finding = replay.finding
    out = {"finding": {k: finding[k] for k in IDENTITY if k in finding},
           "invariant": replay.confirmation["invariant"], "threads": replay.threads,
           "steps": compress([name for name, _c in replay.steps])}
    choices = [[i + 1, list(c)] for i, (_name, c) in enumerate(replay.steps) if any(c)]
    if choices:
        out["choices"] = choices
    if replay.starts:
        out["start"] = [[list(_lists(k)), _lists(v)] for k, v in sorted(replay.starts.items(),
                                                                         key=repr)]
    return out


def _lists(value):
    return [_lists(v) for v in value] if isinstance(value, tuple) else value


def dumps(replays) -> str:
    data = {"qlint": TAG, "version": VERSION, "schedules": [entry(r) for r in replays]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def load(path: str) -> list[dict]:
    """The schedules of a file, validated (a defect is an error naming the file)."""
    data = parse_json(read_bytes(path, "schedule file"), path)
    if not isinstance(data, dict) or data.get("qlint") != TAG:
        raise QlintError(f"{path}: not a qlint schedule file (expected \"qlint\": \"{TAG}\")")
    if data.get("version") != VERSION:
        raise QlintError(f"{path}: unsupported schedule version {data.get('version')!r} "
                         f"(expected {VERSION})")
    schedules = data.get("schedules")
    if not isinstance(schedules, list) or not schedules:
        raise QlintError(f"{path}: 'schedules' must be a non-empty list")
    for i, item in enumerate(schedules):
        _check(path, i, item)
    return schedules


def _check(path: str, i: int, item) -> None:
    where = f"{path}: schedule {i}"
    if not isinstance(item, dict) or not isinstance(item.get("finding"), dict):
        raise QlintError(f"{where}: needs a 'finding' object")
    steps = item.get("steps")
    if not isinstance(steps, list) or not steps or not all(
            isinstance(s, list) and len(s) == 2 and isinstance(s[0], str) and
            isinstance(s[1], int) and not isinstance(s[1], bool) and s[1] > 0 for s in steps):
        raise QlintError(f"{where}: 'steps' must be a non-empty list of [thread, count > 0]")
    choices = item.get("choices", [])
    if not isinstance(choices, list) or not all(
            isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and
            isinstance(c[1], list) and all(isinstance(x, int) and x >= 0 for x in c[1])
            for c in choices):
        raise QlintError(f"{where}: 'choices' must be a list of [step, [choice, ...]]")
    start = item.get("start", [])
    if not isinstance(start, list) or not all(isinstance(v, list) and len(v) == 2 and
                                              isinstance(v[0], list) for v in start):
        raise QlintError(f"{where}: 'start' must be a list of [[object, field], value]")


def matching(schedules: list[dict], finding: dict):
    """The schedule recorded for this finding (same fingerprint, else same rule and place)."""
    for item in schedules:
        recorded = item["finding"]
        fingerprint = recorded.get("fingerprint")
        if fingerprint and fingerprint == finding.get("fingerprint"):
            return item
    for item in schedules:
        recorded = item["finding"]
        if all(recorded.get(k) == finding.get(k) for k in ("rule", "path", "line", "function")):
            return item
    return None
