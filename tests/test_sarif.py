"""SARIF 2.1.0 output: valid against the official schema, what GitHub code scanning reads, limits."""
from __future__ import annotations

import json

import jsonschema
import pytest
import sarif_om as om

from conftest import REPO, SARIF_SCHEMA, qlint
from qlint.report import sarif
from qlint.report.model import Finding, Related, Step, finalize
from qlint.rules.base import Rule
from qlint.rules.registry import all_rules

SEED = "fixtures/seed000/before"


@pytest.fixture(scope="module")
def validator():
    with open(SARIF_SCHEMA, encoding="utf-8") as f:
        return jsonschema.Draft4Validator(json.load(f))


def assert_valid(validator, log: dict) -> None:
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.absolute_path))
    assert [f"{list(e.absolute_path)}: {e.message}" for e in errors] == []


def check_sarif(path: str, *extra):
    run = qlint("check", path, "--format", "sarif", "--jobs", "1", *extra)
    return run, json.loads(run.out)


@pytest.mark.parametrize("path", [SEED, "fixtures/seed000/after", "fixtures/core/excludes",
                                  "fixtures/core/guards", "fixtures/core/designated", "fixtures"])
def test_sarif_of_fixtures_is_valid_against_the_official_schema(validator, path):
    run, log = check_sarif(path)
    assert run.code == (0 if path.endswith("after") else 1)
    assert_valid(validator, log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1


def test_driver_describes_every_registered_rule(validator):
    _run, log = check_sarif(SEED)
    driver = log["runs"][0]["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("qlint", "0.1.0")
    assert driver["informationUri"].startswith("https://")
    rules = all_rules()
    assert [r["id"] for r in driver["rules"]] == list(rules)
    for descriptor, (code, cls) in zip(driver["rules"], rules.items()):
        assert descriptor["name"] == cls.name
        assert descriptor["shortDescription"]["text"] == cls.summary
        assert descriptor["help"]["markdown"] == cls.doc()
        assert descriptor["helpUri"].endswith(f"/docs/rules/{code}.md")
        assert descriptor["defaultConfiguration"]["level"] == cls.level
        assert descriptor["properties"]["tags"] == list(cls.tags)
        assert descriptor["properties"]["precision"] == cls.precision
        assert descriptor["properties"]["problem.severity"] == sarif.SEVERITY[cls.level]
        assert 0 < len(descriptor["fullDescription"]["text"]) <= 1024
    ql101 = driver["rules"][list(rules).index("QL101")]
    assert ql101["fullDescription"]["text"].startswith(
        "Finds calls of a function that requires a lock (a `[[requires]]` entry of a rule pack")


def test_result_carries_location_path_related_locations_and_fingerprint():
    _run, log = check_sarif(SEED)
    json_report = qlint("check", SEED, "--format", "json", "--jobs", "1").json["findings"][0]
    run = log["runs"][0]
    assert run["automationDetails"] == {"id": "qlint/fixtures/seed000/before/"}
    assert "originalUriBaseIds" not in run                 # an absolute path: only when asked
    [result] = run["results"]
    assert result["ruleId"] == "QL101"
    assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == "QL101"
    assert result["level"] == "error"
    assert result["message"]["text"] == json_report["message"]
    assert result["locations"] == [{"physicalLocation": {
        "artifactLocation": {"uri": f"{SEED}/linux-aio.c", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 49, "startColumn": 5}}}]
    assert result["partialFingerprints"] == {"qlintFingerprint/v1": json_report["fingerprint"]}
    [flow] = result["codeFlows"]
    steps = [(loc["location"]["physicalLocation"]["region"]["startLine"],
              loc["location"]["message"]["text"]) for loc in flow["threadFlows"][0]["locations"]]
    assert steps == [(s["line"], f"{s['function']}: {s['note']}") for s in json_report["trace"]]
    assert steps[0] == (57, "qemu_laio_completion_bh: entry point: bh registered by aio_bh_new() "
                            "in laio_attach_aio_context(), line 89 (holds no lock)")
    related = [(r["id"], r["physicalLocation"]["region"]["startLine"], r["message"]["text"])
               for r in result["relatedLocations"]]
    assert related == [(i, r["line"], r["message"]) for i, r in enumerate(json_report["related"], 1)]


def test_locations_are_never_absolute_and_fingerprints_are_unique():
    _run, log = check_sarif("fixtures")
    results = log["runs"][0]["results"]
    assert len(results) == len(qlint("check", "fixtures", "--format", "json").json["findings"]) > 1
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in results
            for loc in r["locations"] + r.get("relatedLocations", [])
            + [s["location"] for f in r.get("codeFlows", [])
               for t in f["threadFlows"] for s in t["locations"]]]
    assert uris and all(u.startswith("fixtures/") for u in uris)
    prints = [r["partialFingerprints"]["qlintFingerprint/v1"] for r in results]
    assert len(set(prints)) == len(prints)


def test_sarif_is_byte_identical_across_jobs():
    first = qlint("check", "fixtures", "--format", "sarif", "--jobs", "1")
    second = qlint("check", "fixtures", "--format", "sarif", "--jobs", "2")
    assert first.code == second.code == 1
    assert first.out == second.out


def test_category_option_and_output_file(tmp_path, validator):
    out = tmp_path / "qlint.sarif"
    run = qlint("check", SEED, "fixtures/core/excludes", "--format", "sarif", "-o", str(out),
                "--sarif-category", "qlint/nightly")
    assert (run.code, run.out) == (1, "")
    log = json.loads(out.read_text())
    assert log["runs"][0]["automationDetails"] == {"id": "qlint/nightly/"}
    assert_valid(validator, log)
    assert sarif.default_category([SEED + "/", "fixtures/core/excludes", "."], REPO) == \
        "qlint/fixtures/core/excludes,fixtures/seed000/before"
    assert sarif.default_category(["."], REPO) == "qlint"


def test_parse_problems_become_tool_notifications(tmp_path, validator):
    (tmp_path / "bad.c").write_text("int g(void) { return }\n")
    run = qlint("check", str(tmp_path / "bad.c"), "--format", "sarif", cwd=str(tmp_path))
    log = json.loads(run.out)
    assert_valid(validator, log)
    [invocation] = log["runs"][0]["invocations"]
    assert invocation["executionSuccessful"] is True
    [note] = invocation["toolExecutionNotifications"]
    assert note["level"] == "warning"
    assert note["message"]["text"] == "bad.c: bad.c:1:22: expected expression"
    assert note["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "bad.c"


# ---- the serializer ---------------------------------------------------------------------------

def test_serializer_keeps_values_equal_to_schema_defaults_and_only_those_given():
    result = sarif.node(om.Result, rule_id="QL101", level="warning", kind="fail",
                        message=sarif.node(om.Message, text="m"), rank=None)
    assert sarif.to_data(result) == {"ruleId": "QL101", "level": "warning", "kind": "fail",
                                     "message": {"text": "m"}}
    bag = sarif.to_data(sarif.node(om.ReportingDescriptor, id="X",
                                   properties={"tags": {"b", "a"}, "precision": "high"}))
    assert bag == {"id": "X", "properties": {"precision": "high", "tags": ["a", "b"]}}
    assert sarif.dumps(result) == ('{"ruleId":"QL101","level":"warning","kind":"fail",'
                                   '"message":{"text":"m"}}\n')


def test_artifact_uris_are_relative_and_escaped():
    assert sarif.artifact_uri("block/a b.c", "/src") == "block/a%20b.c"
    assert sarif.artifact_uri("/src/block/x.c", "/src") == "block/x.c"
    assert sarif.artifact_uri("/usr/include/stdio.h", "/src") == "../usr/include/stdio.h"


# ---- GitHub's limits --------------------------------------------------------------------------

def finding(i: int, level: str = "warning", steps: int = 2, related: int = 1) -> Finding:
    return Finding(rule="QL101", name="lock-required", path="/src/block/f.c",
                   line=i + 1, column=3, function=f"fn{i}", message=f"message {i}",
                   detail=f"d{i}", level=level,
                   trace=[Step(f"s{k}", "/src/block/a.c", k + 1, f"step {k}") for k in range(steps)],
                   related=[Related("/src/block/r.c", k + 1, f"related {k}") for k in range(related)])


def build(findings, **kw) -> dict:
    return json.loads(sarif.dumps(sarif.build(finalize(findings, "/src"), all_rules(), [],
                                              "qlint/block", "/src", **kw)))


def test_results_beyond_what_github_keeps_are_cut_most_severe_first_with_a_note(validator):
    findings = [finding(i, "error" if i % 1000 == 999 else "warning") for i in range(5004)]
    findings[5003].level = "error"
    log = build(findings)
    assert_valid(validator, log)
    results = log["runs"][0]["results"]
    # The 6 errors and the first 4994 warnings, in report order.
    assert [r["message"]["text"] for r in results] == \
        [f"message {i}" for i in range(4998)] + ["message 4999", "message 5003"]
    assert sum(r["level"] == "error" for r in results) == 6
    [note] = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"] == (
        "5004 findings, of which only the 5000 most severe are in this SARIF file (GitHub code "
        "scanning keeps at most 5000 per run); the JSON report (--format json) has them all")


def test_long_paths_many_related_locations_and_tags_are_cut(validator, monkeypatch):
    log = build([finding(0, steps=1200, related=150)])
    assert_valid(validator, log)
    [result] = log["runs"][0]["results"]
    flow = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert len(flow) == 1000
    assert flow[-2]["location"]["message"]["text"] == "s998: step 998 (201 further step(s) omitted)"
    assert flow[-1]["location"]["message"]["text"] == "s1199: step 1199"
    assert len(result["relatedLocations"]) == 100
    assert result["message"]["text"] == "message 0 (50 further related location(s) omitted)"

    class Tagged(Rule):
        code, name, summary = "QL999", "tagged", "s" * 2000
        tags = tuple(f"t{i}" for i in range(25))
    descriptor = sarif.to_data(sarif.descriptor(Tagged))
    assert descriptor["properties"]["tags"] == [f"t{i}" for i in range(10)]
    assert len(descriptor["shortDescription"]["text"]) <= 1024
    assert len(descriptor["fullDescription"]["text"]) <= 1024


def test_a_log_over_the_upload_size_keeps_the_most_findings_that_fit(validator):
    findings = finalize([finding(i, steps=40) for i in range(300)], "/src")
    full = sarif.render(findings, all_rules(), [], "qlint/block", "/src")
    limit = sarif.gzipped_size(full) // 3
    text = sarif.render(findings, all_rules(), [], "qlint/block", "/src", max_gzipped=limit)
    assert sarif.gzipped_size(text) <= limit
    log = json.loads(text)
    assert_valid(validator, log)
    kept = len(log["runs"][0]["results"])
    assert 0 < kept < 300
    note = (f"300 findings, of which only the {kept} most severe are in this SARIF file (all "
            f"would exceed GitHub's upload size of {limit} bytes gzipped); the JSON report "
            "(--format json) has them all")
    one_more = sarif.dumps(sarif.build(findings, all_rules(), [], "qlint/block", "/src",
                                       kept + 1, sarif.size_reason(limit)))
    assert sarif.gzipped_size(one_more) > limit
    notices = log["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notices] == [note]


# ---- --format github --------------------------------------------------------------------------

def test_github_format_prints_workflow_commands():
    run = qlint("check", "fixtures/core/excludes", "--format", "github", "--jobs", "1")
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0] == (
        "::error file=fixtures/core/excludes/excludes.c,line=9,col=5,title=QL103 [lock-excluded]::"
        "wait_for_io() must not be called with AioContext held, but AioContext is held by "
        "drain_locked() here"
        "%0A1. fixtures/core/excludes/excludes.c:6: drain_locked: drain_locked() (callers unknown "
        "or irrelevant)"
        "%0A2. fixtures/core/excludes/excludes.c:9: drain_locked: calls wait_for_io() with "
        "AioContext held")
    assert len(lines) == 2 and lines[1].startswith(
        "::error file=fixtures/core/excludes/excludes.c,line=15,col=5,title=QL103 [lock-excluded]::")


def test_github_format_escapes_data_and_properties():
    from qlint.report import github
    f = Finding(rule="QL101", name="lock-required", path="a,b:c.c", line=3, column=0,
                function="f", message="100% wrong\nreally", level="warning")
    assert github.render([f]) == ("::warning file=a%2Cb%3Ac.c,line=3,title=QL101 [lock-required]::"
                                  "100%25 wrong%0Areally\n")


def test_absolute_paths_define_srcroot_in_sarif_and_make_json_paths_absolute():
    log = json.loads(qlint("check", SEED, "--format", "sarif", "--absolute-paths").out)
    assert log["runs"][0]["originalUriBaseIds"] == {"%SRCROOT%": {"uri": f"file://{REPO}/"}}
    [finding] = qlint("check", SEED, "--format", "json", "--absolute-paths").json["findings"]
    paths = {finding["path"]} | {s["path"] for s in finding["trace"]} | \
        {r["path"] for r in finding["related"]}
    assert paths == {f"{REPO}/{SEED}/linux-aio.c"}
