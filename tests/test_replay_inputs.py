"""qlint replay's bad input: one-line errors, exit 2."""
from __future__ import annotations

import json

import pytest

from conftest import qlint

FINDING = {"rule": "QL202", "path": "fixtures/seed003/before/mirror.c", "line": 32, "column": 5,
           "function": "mirror_run", "message": "drained is open across the deferral",
           "fingerprint": "387ac3db8d55fe60467e565ce345675f",
           "trace": [{"function": "mirror_run", "path": "fixtures/seed003/before/mirror.c",
                      "line": 31, "note": "drained begins here"}]}


def write(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def error(*args) -> str:
    run = qlint("replay", *args)
    assert (run.code, run.out) == (2, "")
    return run.err


@pytest.mark.parametrize("content, message", [
    ("", "not valid JSON: line 1: Expecting value"),
    ("{", "not valid JSON: line 1: Expecting property name enclosed in double quotes"),
    ("[]", "expected a qlint JSON report or one finding of it"),
    ({"findings": {}}, "'findings' must be a list"),
    ({"findings": []}, "no findings to replay"),
    ({"findings": [3]}, "finding 0: not an object"),
    ({k: v for k, v in FINDING.items() if k != "trace"}, "finding 0: missing 'trace'"),
    (dict(FINDING, line="32"), "finding 0: 'line' must be an integer"),
    (dict(FINDING, line=True), "finding 0: 'line' must be an integer"),
    (dict(FINDING, rule="QL999"), "finding 0: unknown rule code 'QL999' (see `qlint rules`)"),
    (dict(FINDING, trace=[]), "finding 0: 'trace' is empty (the replay follows the finding's path)"),
    (dict(FINDING, trace=[{"function": "f"}]), "finding 0: trace step 0: 'path' must be a string"),
])
def test_malformed_finding_file(tmp_path, content, message):
    path = write(tmp_path, "f.json", content)
    assert error(path) == f"qlint: error: {path}: {message}\n"


def test_missing_finding_file():
    assert error("no/such.json") == "qlint: error: no/such.json: report not found\n"


def test_unknown_fingerprint(tmp_path):
    path = write(tmp_path, "f.json", {"findings": [FINDING]})
    assert error(path, "--fingerprint", "feed") == \
        f"qlint: error: {path}: no finding with fingerprint 'feed'\n"


def test_finding_whose_files_are_gone(tmp_path):
    gone = dict(FINDING, path="gone/mirror.c",
                trace=[dict(FINDING["trace"][0], path="gone/mirror.c")])
    path = write(tmp_path, "f.json", gone)
    assert error(path) == ("qlint: error: gone/mirror.c: no such file or directory (replay in the "
                           "directory `qlint check` ran in)\n")


@pytest.mark.parametrize("content, message", [
    ("nope", "not valid JSON: line 1: Expecting value"),
    ({"schedules": []}, 'not a qlint schedule file (expected "qlint": "replay-schedule")'),
    ({"qlint": "replay-schedule", "version": 9, "schedules": []},
     "unsupported schedule version 9 (expected 1)"),
    ({"qlint": "replay-schedule", "version": 1, "schedules": []},
     "'schedules' must be a non-empty list"),
    ({"qlint": "replay-schedule", "version": 1, "schedules": [{"steps": []}]},
     "schedule 0: needs a 'finding' object"),
    ({"qlint": "replay-schedule", "version": 1,
      "schedules": [{"finding": {}, "steps": [["main", 0]]}]},
     "schedule 0: 'steps' must be a non-empty list of [thread, count > 0]"),
    ({"qlint": "replay-schedule", "version": 1,
      "schedules": [{"finding": {}, "steps": [["main", 1]], "choices": [[1, [-1]]]}]},
     "schedule 0: 'choices' must be a list of [step, [choice, ...]]"),
    ({"qlint": "replay-schedule", "version": 1,
      "schedules": [{"finding": {}, "steps": [["main", 1]], "start": [["S.n", 1]]}]},
     "schedule 0: 'start' must be a list of [[object, field], value]"),
    ({"qlint": "replay-schedule", "version": 1,
      "schedules": [{"finding": {"rule": "QL101"}, "steps": [["main", 1]]}]},
     "no schedule for the QL202 finding at fixtures/seed003/before/mirror.c:32"),
])
def test_malformed_schedule_file(tmp_path, content, message):
    finding = write(tmp_path, "f.json", FINDING)
    sched = write(tmp_path, "s.json", content)
    assert error(finding, "--schedule", sched) == f"qlint: error: {sched}: {message}\n"


def test_schedule_and_pct_exclude_each_other(tmp_path):
    finding = write(tmp_path, "f.json", FINDING)
    assert error(finding, "--schedule", finding, "--pct") == (
        "qlint: error: --schedule follows a recorded schedule; it cannot be combined with --pct\n")


def test_a_schedule_naming_threads_the_scenario_lacks_is_not_followed(tmp_path):
    finding = write(tmp_path, "f.json", FINDING)
    sched = write(tmp_path, "s.json", {"qlint": "replay-schedule", "version": 1, "schedules": [
        {"finding": {"fingerprint": FINDING["fingerprint"]}, "steps": [["vcpu7", 2]]}]})
    run = qlint("replay", finding, "--schedule", sched, "--format", "json")
    assert run.code == 0
    c = run.json["replays"][0]["confirmation"]
    assert (c["status"], c["reason"]) == (
        "not-reproduced", "the schedule names threads the scenario does not have: vcpu7")
